package command_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// These tests build the real polyglot binary and the example plugin, and
// drive them as a user would.

var (
	polyglotBin string
	echoBin     string
	repoRoot    string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "polyglot-e2e")
	if err != nil {
		panic(err)
	}
	repoRoot, _ = filepath.Abs("../..")
	polyglotBin = filepath.Join(dir, "polyglot")
	echoBin = filepath.Join(dir, "polyglot-plugin-echo")
	for out, pkg := range map[string]string{polyglotBin: ".", echoBin: "./examples/plugin-teacher-echo"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = repoRoot
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			panic("go build " + pkg + ": " + err.Error())
		}
	}
	// Runs use a response cache of this test run's own, not the user's.
	os.Setenv("POLYGLOT_CACHE", filepath.Join(dir, "responses.db"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func polyglot(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(polyglotBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "POLYGLOT_LOG=warn")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func installEcho(t *testing.T) string {
	t.Helper()
	pd := t.TempDir()
	r := polyglot(t, repoRoot, "plugins", "install", "--path", echoBin, "--plugin-dir", pd)
	if r.code != 0 {
		t.Fatalf("install failed: %s", r.stderr)
	}
	return pd
}

var errorMarker = regexp.MustCompile(`#\s*ERROR:\s*(.+?)\s*$`)

// TestValidatePluginConfigErrors runs `polyglot validate` on specs whose
// mistakes only the plugins' schemas (or their own validation) can find;
// each file marks the expected error's summary on its line.
func TestValidatePluginConfigErrors(t *testing.T) {
	pd := installEcho(t)
	files, _ := filepath.Glob(filepath.Join(repoRoot, "testdata/specs/invalid-plugin/*.hcl"))
	if len(files) < 8 {
		t.Fatalf("only %d fixtures", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			line, want := marker(t, f)
			r := polyglot(t, repoRoot, "validate", "--plugin-dir", pd, f)
			if r.code == 0 {
				t.Fatalf("validate accepted an invalid spec:\n%s", r.stdout)
			}
			loc := filepath.Base(f) + ":" + strconv.Itoa(line) + ":"
			ok := false
			for _, l := range strings.Split(r.stderr, "\n") {
				if strings.Contains(l, loc) && strings.Contains(l, want) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("want %q at %s, got:\n%s", want, loc, r.stderr)
			}
		})
	}
}

// TestValidateMalformedSpecs runs `polyglot validate` on every malformed
// spec fixture: each must fail with its marked diagnostic at its line.
func TestValidateMalformedSpecs(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "testdata/specs/invalid/*.hcl"))
	if len(files) < 30 {
		t.Fatalf("only %d malformed specs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			line, want := marker(t, f)
			r := polyglot(t, filepath.Dir(f), "validate", f)
			if r.code == 0 {
				t.Fatalf("validate accepted a malformed spec")
			}
			loc := filepath.Base(f) + ":" + strconv.Itoa(line) + ":"
			if !strings.Contains(r.stderr, loc) || !strings.Contains(r.stderr, want) {
				t.Errorf("want %q at %s, got:\n%s", want, loc, r.stderr)
			}
		})
	}
	for _, dir := range []string{"testdata/specs/valid/minimal"} {
		pd := installEcho(t)
		if r := polyglot(t, repoRoot, "validate", "--plugin-dir", pd, filepath.Join(repoRoot, dir)); r.code != 0 {
			t.Errorf("%s: %s", dir, r.stderr)
		}
	}
}

func marker(t *testing.T, path string) (int, string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if m := errorMarker.FindStringSubmatch(sc.Text()); m != nil {
			return n, m[1]
		}
	}
	t.Fatalf("%s has no # ERROR: marker", path)
	return 0, ""
}

// TestEchoPluginEndToEnd installs the third-party example plugin, then
// validates and plans the example spec that uses it, over real gRPC.
func TestEchoPluginEndToEnd(t *testing.T) {
	pd := installEcho(t)
	example := filepath.Join(repoRoot, "examples/plugin-teacher-echo/example")
	if r := polyglot(t, repoRoot, "validate", "--plugin-dir", pd, example); r.code != 0 || !strings.Contains(r.stdout, "is valid") {
		t.Fatalf("validate: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r := polyglot(t, repoRoot, "plan", "--json", "--plugin-dir", pd, "-var", "store="+t.TempDir(), example)
	if r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	var po struct {
		Stages []struct {
			Stage    string `json:"stage"`
			Units    int    `json:"units"`
			Requests int    `json:"requests"`
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &po); err != nil {
		t.Fatal(err, r.stdout)
	}
	if po.Stages[0].Stage != "generate" || po.Stages[0].Units != 2 || po.Stages[0].Requests != 12 {
		t.Errorf("unexpected plan %+v", po.Stages)
	}
	// The list shows the installed plugin as verified.
	if r := polyglot(t, repoRoot, "plugins", "list", "--plugin-dir", pd); !strings.Contains(r.stdout, "echo") || strings.Contains(r.stdout, "MISMATCH") {
		t.Errorf("plugins list:\n%s", r.stdout)
	}
	// Tampering is reported by list and refused by validate.
	bin, _ := filepath.Glob(filepath.Join(pd, "polyglot-plugin-echo*"))
	f, _ := os.OpenFile(bin[0], os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("x")
	f.Close()
	if r := polyglot(t, repoRoot, "plugins", "list", "--plugin-dir", pd); !strings.Contains(r.stdout, "CHECKSUM MISMATCH") {
		t.Errorf("list does not flag the tampered binary:\n%s", r.stdout)
	}
	if r := polyglot(t, repoRoot, "validate", "--plugin-dir", pd, example); r.code == 0 || !strings.Contains(r.stderr, "lock file records") {
		t.Errorf("tampered plugin not refused: %s", r.stderr)
	}
}

func TestDescribeWithoutHandshake(t *testing.T) {
	out, err := exec.Command(echoBin, "describe").Output()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Name       string `json:"name"`
		Components []struct{ Kind, Name string }
	}
	if err := json.Unmarshal(out, &d); err != nil || d.Name != "echo" || d.Components[0].Kind != "teacher" {
		t.Fatalf("describe: %s %v", out, err)
	}
	if r := polyglot(t, repoRoot, "plugins", "describe", "dataset"); r.code != 0 || !strings.Contains(r.stdout, `"corruption"`) {
		t.Fatalf("describe built-in: %+v", r)
	}
}
