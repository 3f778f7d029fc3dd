// Package e2e proves the teacher path end to end: the real polyglot binary,
// built once in TestMain, runs specs whose OpenAI and Anthropic teachers
// talk to the fake provider (internal/fakeprovider) on 127.0.0.1, next to
// the offline dataset teacher. The tests drive only the CLI (run, status
// --json, plan --json, report, export) and read the fake server's
// counters, so they see what a user sees: no core package is imported.
//
// Covered here: a mixed run to the report; a 2,000-request run under
// injected 429s, 500s, hangs and malformed answers where every request
// ends produced or recorded as failed; the API key absent from logs, the
// store, the report and exports; batch mode with a kill during polling;
// and the throughput of the whole generation path against a bare HTTP
// client loop.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
)

var (
	polyglotBin string
	repoRoot    string
	specDir     string
)

// testKey is the fake API key: distinctive enough that finding it anywhere
// it should not be is unambiguous.
const testKey = "sk-e2e-SECRET-7f3a9c1d5e8b2f4a6c0d9e7b1a3f5c8d"

func TestMain(m *testing.M) {
	if os.Getenv(bareLoopEnv) != "" {
		os.Exit(bareLoopChild()) // throughput_test.go
	}
	dir, err := os.MkdirTemp("", "polyglot-teachers-e2e")
	if err != nil {
		panic(err)
	}
	repoRoot, _ = filepath.Abs("../../..")
	specDir = filepath.Join(repoRoot, "testdata/specs/teachers")
	polyglotBin = filepath.Join(dir, "polyglot")
	if b := os.Getenv("POLYGLOT_E2E_BIN"); b != "" {
		// A binary built elsewhere, e.g. to measure a change to the path.
		polyglotBin = b
	} else {
		cmd := exec.Command("go", "build", "-o", polyglotBin, ".")
		cmd.Dir = repoRoot
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			panic("go build polyglot: " + err.Error())
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is a finished polyglot process.
type result struct {
	stdout, stderr string
	code           int
}

// runOpts are what differs between invocations.
type runOpts struct {
	logLevel string   // POLYGLOT_LOG; default warn
	env      []string // extra KEY=VALUE
	bin      string   // the polyglot binary; default polyglotBin
}

func command(o runOpts, args ...string) *exec.Cmd {
	bin := polyglotBin
	if o.bin != "" {
		bin = o.bin
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot
	lvl := o.logLevel
	if lvl == "" {
		lvl = "warn"
	}
	// The shared response cache would let one test's answers serve
	// another's: every test keeps them in its own store.
	cmd.Env = append(os.Environ(), "POLYGLOT_LOG="+lvl, "POLYGLOT_LOG_JSON=1", "POLYGLOT_CACHE=off", "POLYGLOT_E2E_KEY="+testKey)
	cmd.Env = append(cmd.Env, o.env...)
	return cmd
}

func polyglot(t testing.TB, o runOpts, args ...string) result {
	t.Helper()
	cmd := command(o, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// vars are the -var flags pointing a spec at a fake server and a store.
func vars(fake *fakeprovider.Server, store string, extra ...string) []string {
	out := []string{"-var", "store=" + store}
	if fake != nil {
		out = append(out, "-var", "openai_url="+fake.URL+"/v1", "-var", "anthropic_url="+fake.URL)
	}
	for _, e := range extra {
		out = append(out, "-var", e)
	}
	return out
}

func args(cmd string, v []string, dir string, more ...string) []string {
	out := append([]string{cmd}, more...)
	out = append(out, v...)
	return append(out, dir)
}

// cell is one row of `status --json`'s summary.
type cell struct {
	Teacher, Language, Strategy string
	Seed                        int
	Examples, Failures          int
	Retrying                    int
	InputTokens                 int64   `json:"input_tokens"`
	OutputTokens                int64   `json:"output_tokens"`
	CostUSD                     float64 `json:"cost_usd"`
}

type summary struct {
	Stages []struct {
		Stage                          string
		Pending, Running, Done, Failed int
	}
	Cells []cell
	Total cell
}

func status(t testing.TB, v []string, dir string) summary {
	t.Helper()
	r := polyglot(t, runOpts{}, args("status", v, dir, "--json")...)
	if r.code != 0 {
		t.Fatalf("status: %s", r.stderr)
	}
	var out struct {
		Summary summary `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, r.stdout)
	}
	return out.Summary
}

type planUnit struct {
	Key      string `json:"key"`
	Stage    string `json:"stage"`
	Label    string `json:"label"`
	Teacher  string `json:"teacher"`
	Language string `json:"language"`
	State    string `json:"state"`
}

func planUnits(t testing.TB, v []string, dir string) []planUnit {
	t.Helper()
	r := polyglot(t, runOpts{}, args("plan", v, dir, "--json")...)
	if r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	var out struct {
		Units []planUnit `json:"units"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("plan --json: %v", err)
	}
	return out.Units
}

// TestMixedTeachersEndToEnd runs the spec's OpenAI, Anthropic and dataset
// teachers over two languages and the three strategies, through metrics,
// students, the score and the report.
func TestMixedTeachersEndToEnd(t *testing.T) {
	fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 7, APIKey: testKey})
	store := t.TempDir()
	v := vars(fake, store)
	r := polyglot(t, runOpts{logLevel: "debug"}, args("run", v, specDir)...)
	if r.code != 0 {
		t.Fatalf("run failed (%d):\n%s", r.code, tail(r.stderr, 4000))
	}
	for _, u := range planUnits(t, v, specDir) {
		if u.State != "done" {
			t.Errorf("unit %s is %s after the run", u.Label, u.State)
		}
	}
	sum := status(t, v, specDir)
	// 3 teachers x 2 languages x 3 strategies, 6 examples a cell = 2 a strategy.
	if len(sum.Cells) != 18 {
		t.Errorf("%d cells in the store, want 18: %+v", len(sum.Cells), sum.Cells)
	}
	for _, c := range sum.Cells {
		if c.Examples != 2 || c.Failures+c.Retrying != 0 {
			t.Errorf("cell %s/%s/%s: %d examples, %d failures, %d retrying; want 2, 0, 0", c.Teacher, c.Language, c.Strategy, c.Examples, c.Failures, c.Retrying)
		}
		if c.Teacher != "human" && (c.InputTokens == 0 || c.OutputTokens == 0 || c.CostUSD <= 0) {
			t.Errorf("cell %s/%s/%s has no usage or cost: %+v", c.Teacher, c.Language, c.Strategy, c)
		}
	}
	st := fake.Stats()
	if st.Rejected != 0 {
		t.Errorf("the fake refused %d requests for their shape: %v", st.Rejected, st.Rejections)
	}
	// Each of the two API teachers: 2 languages x 6 examples, one call each.
	if st.ByRoute["openai.chat"] != 12 || st.ByRoute["anthropic.messages"] != 12 {
		t.Errorf("fake saw %v, want 12 OpenAI and 12 Anthropic calls", st.ByRoute)
	}
	report := filepath.Join(store, "report", "report.html")
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("no report: %v", err)
	}
	for _, want := range []string{"gpt", "claude", "human", "relevance"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("report.html does not mention %q", want)
		}
	}
	// `polyglot report` re-renders it from the store alone.
	if rr := polyglot(t, runOpts{}, args("report", v, specDir)...); rr.code != 0 {
		t.Errorf("report: %s", rr.stderr)
	}
	exportDir := exportAll(t, v, specDir)
	if exportDir != "" {
		data, err := os.ReadFile(filepath.Join(exportDir, "data.jsonl"))
		if n := bytes.Count(data, []byte("\n")); err != nil || n != 36 {
			t.Errorf("export data.jsonl: %d lines (%v), want 36", n, err)
		}
	}
	assertNoKey(t, r.stderr, store, exportDir)
}

// exportAll runs `polyglot export` into a new folder when the binary has
// that command, and returns the folder ("" when it has not).
func exportAll(t *testing.T, v []string, dir string) string {
	t.Helper()
	if h := polyglot(t, runOpts{}, "export", "-h"); strings.Contains(h.stderr, "unknown command") {
		t.Log("this build has no export command; exports not checked")
		return ""
	}
	out := t.TempDir()
	r := polyglot(t, runOpts{}, args("export", v, dir, "--out", out)...)
	if r.code != 0 {
		t.Errorf("export: %s", r.stderr)
		return ""
	}
	return out
}

// assertNoKey greps the run's stderr and every file under the given
// folders (the SQLite store with its WAL, the report, exports) for the key.
func assertNoKey(t *testing.T, stderr string, dirs ...string) {
	t.Helper()
	if strings.Contains(stderr, testKey) {
		i := strings.Index(stderr, testKey)
		t.Errorf("the API key is in the run's log: …%s…", stderr[max(0, i-200):min(len(stderr), i+100)])
	}
	// A key cut in the middle (a truncated body) must not leak either.
	half := testKey[:len(testKey)/2+4]
	scanned := 0
	for _, d := range dirs {
		if d == "" {
			continue
		}
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("reading %s: %v", p, err)
				return nil
			}
			scanned++
			if bytes.Contains(b, []byte(half)) {
				t.Errorf("the API key is in %s", p)
			}
			return nil
		})
	}
	if scanned == 0 {
		t.Errorf("no files scanned for the key in %v", dirs)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// startBackground starts polyglot without waiting; the caller kills or
// waits for it.
func startBackground(t *testing.T, o runOpts, a ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := command(o, a...)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &errb
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(ctx context.Context, every time.Duration, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(every):
		}
	}
}

// killHard sends SIGKILL: no deferred cleanup runs in polyglot.
func killHard(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func itoa(i int) string { return strconv.Itoa(i) }

// writeSeeds writes n seed rows per language, each prompt distinct, and
// returns their glob.
func writeSeeds(t testing.TB, langs []string, n int) string {
	t.Helper()
	dir := t.TempDir()
	for _, l := range langs {
		var b bytes.Buffer
		for i := range n {
			row, _ := json.Marshal(map[string]string{
				"id": l + "-" + strconv.Itoa(i), "language": l,
				"prompt":   "Frage " + strconv.Itoa(i) + " in " + l + ": erkläre Thema " + strconv.Itoa(i*7919%10007) + ".",
				"response": "Antwort " + strconv.Itoa(i) + ".",
			})
			b.Write(row)
			b.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(dir, l+".jsonl"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "*.jsonl")
}
