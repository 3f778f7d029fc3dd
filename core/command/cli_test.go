package command_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cliCase is one command line and what it must do. Args may use the
// placeholders DIR (the experiment), PD (the plugin folder), STORE (a
// store), OUT (a new folder) and BIN (the echo plugin binary).
type cliCase struct {
	name  string
	args  []string
	code  int
	check func(t *testing.T, r result, out string)
}

func (c cliCase) run(t *testing.T, vars map[string]string) {
	t.Helper()
	t.Run(c.name, func(t *testing.T) {
		out := t.TempDir()
		vars["OUT"] = out
		args := make([]string, len(c.args))
		for i, a := range c.args {
			// A placeholder is a whole argument or what follows its "=".
			pre, ph, ok := strings.Cut(a, "=")
			if !ok {
				pre, ph = "", a
			} else {
				pre += "="
			}
			if v, ok := vars[ph]; ok {
				a = pre + v
			}
			args[i] = a
		}
		r := polyglot(t, repoRoot, args...)
		if r.code != c.code {
			t.Fatalf("polyglot %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(c.args, " "), r.code, c.code, r.stdout, r.stderr)
		}
		if c.check != nil {
			c.check(t, r, out)
		}
	})
}

// cliVars installs the echo plugin and returns the placeholder values of
// a fresh store for testdata/specs/cli, whose store variable has no
// default: a command that drops `-var store=...` fails.
func cliVars(t *testing.T) map[string]string {
	return map[string]string{
		"DIR":   filepath.Join(repoRoot, "testdata/specs/cli"),
		"PD":    installEcho(t),
		"STORE": t.TempDir(),
		"BIN":   echoBin,
	}
}

func contains(stream, want string) func(*testing.T, result, string) {
	return func(t *testing.T, r result, _ string) {
		t.Helper()
		s := r.stdout
		if stream == "stderr" {
			s = r.stderr
		}
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %q:\n%s", stream, want, s)
		}
	}
}

func fileIn(name string) func(*testing.T, result, string) {
	return func(t *testing.T, _ result, out string) {
		t.Helper()
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
}

func jsonOut(t *testing.T, r result) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, r.stdout)
	}
	return m
}

// planRequests returns the generate stage's requests from plan --json.
func planRequests(t *testing.T, r result) float64 {
	t.Helper()
	for _, s := range jsonOut(t, r)["stages"].([]any) {
		if st := s.(map[string]any); st["stage"] == "generate" {
			return st["requests"].(float64)
		}
	}
	t.Fatal("no generate stage")
	return 0
}

func TestValidateFlagsAnywhere(t *testing.T) {
	v := cliVars(t)
	valid := contains("stdout", `The experiment "cli" is valid`)
	for _, c := range []cliCase{
		{"flags after DIR", []string{"validate", "DIR", "--plugin-dir", "PD", "-var", "store=STORE"}, 0, valid},
		{"flags before DIR", []string{"validate", "--plugin-dir", "PD", "-var", "store=STORE", "DIR"}, 0, valid},
		{"flags around DIR", []string{"validate", "--plugin-dir", "PD", "DIR", "--var", "store=STORE"}, 0, valid},
		{"-var=name=value", []string{"validate", "DIR", "--plugin-dir=PD", "-var=store=STORE"}, 0, valid},
		{"DIR after --", []string{"validate", "--plugin-dir", "PD", "-var", "store=STORE", "--", "DIR"}, 0, valid},
		{"without the variable", []string{"validate", "DIR", "--plugin-dir", "PD"}, 1, contains("stderr", "No value for required variable")},
		{"two folders", []string{"validate", "DIR", "DIR", "--plugin-dir", "PD", "-var", "store=STORE"}, 2, contains("stderr", "takes one argument, got 2")},
		{"unknown flag after DIR", []string{"validate", "DIR", "--frobnicate"}, 2, contains("stderr", "flag provided but not defined: -frobnicate")},
		{"-var without =", []string{"validate", "DIR", "-var", "store"}, 2, contains("stderr", "-var wants name=value")},
		{"help after DIR", []string{"validate", "DIR", "-h"}, 0, contains("stdout", "Usage: polyglot validate")},
	} {
		c.run(t, v)
	}
}

func TestPlanFlagsAnywhere(t *testing.T) {
	v := cliVars(t)
	for _, c := range []cliCase{
		{"--json after DIR", []string{"plan", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--json"}, 0, func(t *testing.T, r result, _ string) {
			if n := planRequests(t, r); n != 12 { // 2 teachers x 2 languages x 3 examples
				t.Errorf("generate requests %v, want 12", n)
			}
		}},
		{"--only after DIR", []string{"plan", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--json", "--only", "teacher=a"}, 0, func(t *testing.T, r result, _ string) {
			if n := planRequests(t, r); n != 6 {
				t.Errorf("generate requests of teacher a %v, want 6", n)
			}
		}},
		{"--only repeated", []string{"plan", "DIR", "--only", "teacher=a", "--plugin-dir", "PD", "-var", "store=STORE", "--json", "--only", "language=de"}, 0, func(t *testing.T, r result, _ string) {
			if n := planRequests(t, r); n != 3 {
				t.Errorf("generate requests of teacher a in de %v, want 3", n)
			}
		}},
		{"--only in the table", []string{"plan", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--only", "teacher=a"}, 0, contains("stdout", "Only the units of --only teacher=a")},
		{"--only unknown teacher", []string{"plan", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--only", "teacher=c"}, 2, contains("stderr", "--only teacher=c matches nothing; the teachers of this experiment are: a, b")},
		{"--only unknown language", []string{"plan", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--only", "language=fr"}, 2, contains("stderr", "are: de, es")},
		{"--only unknown strategy", []string{"plan", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--only", "strategy=x"}, 2, contains("stderr", "are: respond")},
		{"--only unknown stage", []string{"plan", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--only", "stage=gen"}, 2, contains("stderr", "are: evaluate, generate, metrics, score, train")},
		{"--only key twice", []string{"plan", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--only", "teacher=a,teacher=b"}, 2, contains("stderr", "teacher is given twice")},
		{"two folders", []string{"plan", "DIR", "x", "--plugin-dir", "PD", "-var", "store=STORE"}, 2, contains("stderr", "takes one argument")},
	} {
		c.run(t, v)
	}
}

// TestRunStatusExportReportFlagsAnywhere runs the commands that need a
// store in order: a run restricted by an --only given after DIR, then
// status, export and report with their flags after DIR.
func TestRunStatusExportReportFlagsAnywhere(t *testing.T) {
	v := cliVars(t)
	for _, c := range []cliCase{
		{"run --only unknown", []string{"run", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--only", "teacher=aya"}, 2, contains("stderr", "teachers of this experiment are: a, b")},
		{"run extra argument", []string{"run", "DIR", "DIR", "--plugin-dir", "PD", "-var", "store=STORE"}, 2, contains("stderr", "takes one argument")},
		{"run help", []string{"run", "DIR", "--only", "teacher=a", "--help"}, 0, contains("stdout", "Usage: polyglot run")},
		{"status before any run", []string{"status", "DIR", "-var", "store=STORE"}, 1, contains("stderr", "run `polyglot run")},
		{"run --only after DIR", []string{"run", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--only", "teacher=a,stage=generate"}, 0, func(t *testing.T, r result, _ string) {
			// The score stage did not run: no report may be announced.
			if strings.Contains(r.stdout, "Report: ") || !strings.Contains(r.stdout, "No report yet") {
				t.Errorf("restricted run announces a report:\n%s", r.stdout)
			}
		}},
		{"status --json after DIR", []string{"status", "DIR", "-var", "store=STORE", "--json"}, 0, func(t *testing.T, r result, _ string) {
			var s struct {
				Summary struct {
					Cells []struct {
						Teacher  string `json:"teacher"`
						Examples int    `json:"examples"`
					} `json:"cells"`
				} `json:"summary"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
				t.Fatal(err, r.stdout)
			}
			// Only teacher a ran: two cells (de, es) of three examples.
			if len(s.Summary.Cells) != 2 || s.Summary.Cells[0].Teacher != "a" || s.Summary.Cells[1].Teacher != "a" || s.Summary.Cells[0].Examples != 3 {
				t.Errorf("the run was not restricted to teacher a: %s", r.stdout)
			}
		}},
		{"status extra argument", []string{"status", "DIR", "-var", "store=STORE", "x"}, 2, contains("stderr", "takes one argument")},
		{"export --out after DIR", []string{"export", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--out", "OUT", "--format", "jsonl"}, 0, func(t *testing.T, r result, out string) {
			fileIn("data.jsonl")(t, r, out)
			if _, err := os.Stat(filepath.Join(out, "data.parquet")); err == nil {
				t.Error("--format jsonl after DIR ignored: data.parquet written")
			}
		}},
		{"export bad format", []string{"export", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--format", "csv"}, 2, contains("stderr", "--format must be")},
		{"run the rest", []string{"run", "DIR", "-var", "store=STORE", "--plugin-dir", "PD"}, 0, contains("stdout", "Done. Report: ")},
		{"run with nothing left", []string{"run", "DIR", "-var", "store=STORE", "--plugin-dir", "PD"}, 0, func(t *testing.T, r result, _ string) {
			if strings.Contains(r.stdout, "Done. Report: ") || !strings.Contains(r.stdout, "No report written in this run") {
				t.Errorf("a run that wrote no report announces one:\n%s", r.stdout)
			}
		}},
		{"report --out after DIR", []string{"report", "DIR", "--plugin-dir", "PD", "-var", "store=STORE", "--out", "OUT"}, 0, fileIn("report.html")},
		{"report extra argument", []string{"report", "DIR", "x", "-var", "store=STORE"}, 2, contains("stderr", "takes one argument")},
	} {
		c.run(t, v)
	}
}

func TestOtherCommandsRefuseExtraArguments(t *testing.T) {
	v := cliVars(t)
	imp := filepath.Join(repoRoot, "core/score/testdata/hand.jsonl")
	for _, c := range []cliCase{
		{"no arguments", []string{}, 2, contains("stderr", "Usage: polyglot <command>")},
		{"unknown command", []string{"rnu"}, 2, contains("stderr", `did you mean "run"`)},
		{"flag before the command", []string{"--json", "status"}, 2, contains("stderr", "unknown flag")},
		{"--version", []string{"--version"}, 0, contains("stdout", "polyglot ")},
		{"version extra", []string{"version", "x"}, 2, contains("stderr", "takes no arguments")},
		{"-h", []string{"-h"}, 0, contains("stdout", "Commands:")},
		{"help", []string{"help"}, 0, contains("stdout", "Commands:")},
		{"help run", []string{"help", "run"}, 0, contains("stdout", "-only")},
		{"help plugins install", []string{"help", "plugins", "install"}, 0, contains("stdout", "Usage: polyglot plugins install")},
		{"help unknown", []string{"help", "rnu"}, 2, contains("stderr", `did you mean "run"`)},
		{"docs extra", []string{"docs", "x"}, 2, contains("stderr", "takes no arguments")},
		{"docs -h", []string{"docs", "-h"}, 0, contains("stdout", "Usage: polyglot docs")},
		{"score flags after a stray argument", []string{"score", "x", "--import", imp, "--out", "OUT"}, 2, contains("stderr", "takes no arguments")},
		{"score without --import", []string{"score", "--out", "OUT"}, 2, contains("stderr", "--import FILE is required")},
		{"score", []string{"score", "--bootstrap", "0", "--import", imp, "--out", "OUT"}, 0, fileIn("report.html")},
		{"plugins", []string{"plugins"}, 2, contains("stderr", "which subcommand")},
		{"plugins -h", []string{"plugins", "-h"}, 0, contains("stdout", "Subcommands:")},
		{"plugins unknown", []string{"plugins", "lst"}, 2, contains("stderr", `did you mean "plugins list"`)},
		{"plugins list -h", []string{"plugins", "list", "-h"}, 0, contains("stdout", "-json")},
		{"plugins list extra", []string{"plugins", "list", "x", "--plugin-dir", "PD"}, 2, contains("stderr", "takes no arguments")},
		{"plugins list flags", []string{"plugins", "list", "--plugin-dir", "PD", "--json"}, 0, contains("stdout", `"name": "echo"`)},
		{"plugins describe flags after NAME", []string{"plugins", "describe", "echo", "--plugin-dir", "PD"}, 0, contains("stdout", `"name": "echo"`)},
		{"plugins describe two", []string{"plugins", "describe", "echo", "dataset"}, 2, contains("stderr", "takes one argument")},
		{"plugins describe none", []string{"plugins", "describe"}, 2, contains("stderr", "which plugin")},
		{"plugins install extra", []string{"plugins", "install", "BIN", "--plugin-dir", "OUT"}, 2, contains("stderr", "takes no arguments")},
		{"plugins install", []string{"plugins", "install", "--plugin-dir", "OUT", "--path", "BIN"}, 0, contains("stdout", "installed echo")},
	} {
		c.run(t, v)
	}
}
