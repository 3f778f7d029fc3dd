package spec

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

func TestSensitive(t *testing.T) {
	e := loadFull(t, nil, nil)
	want := []string{"student.olmo.reference", "var.api_key"}
	if diff := cmp.Diff(want, e.Sensitive); diff != "" {
		t.Errorf("Sensitive (-want +got):\n%s", diff)
	}
	for _, addr := range []string{"student.olmo", "student.olmo.reference", "var.api_key"} {
		if !e.IsSensitive(addr) {
			t.Errorf("IsSensitive(%q) = false", addr)
		}
	}
	if e.IsSensitive("teacher.gpt4o") || e.IsSensitive("student.olmo.base_model") {
		t.Errorf("non-sensitive address reported sensitive")
	}
	s := e.String()
	for _, secret := range []string{"hunter2", "allenai/Olmo-3-7B-Instruct"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() leaks %q", secret)
		}
	}
	if !strings.Contains(s, `var.api_key = "(sensitive)"`) || !strings.Contains(s, `"allenai/Olmo-3-7B"`) {
		t.Errorf("String() lacks expected redaction or values:\n%s", s)
	}

	cases := []struct {
		name      string
		in        cty.Value
		want      string
		wantPaths int
	}{
		{"plain", cty.StringVal("a"), `"a"`, 0},
		{"marked", cty.StringVal("k").Mark(Sensitive), `"(sensitive)"`, 1},
		{"list element", cty.ListVal([]cty.Value{cty.NumberIntVal(1), cty.NumberIntVal(2).Mark(Sensitive)}), `[1, "(sensitive)"]`, 1},
		{"object attr", cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal("k").Mark(Sensitive), "url": cty.StringVal("u")}), "{\n  key = \"(sensitive)\"\n  url = \"u\"\n}", 1},
		{"other marks kept out", cty.StringVal("x").Mark("other"), `"x"`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatValue(e.Redact(tc.in)); got != tc.want {
				t.Errorf("FormatValue(Redact) = %q, want %q", got, tc.want)
			}
			u, paths := Unmark(tc.in)
			if u.ContainsMarked() {
				t.Errorf("Unmark left marks")
			}
			if len(paths) != tc.wantPaths {
				t.Errorf("Unmark paths = %v, want %d", paths, tc.wantPaths)
			}
		})
	}
}

// TestDecodeBody decodes plugin config bodies against an hcldec spec with
// the experiment's EvalContext, the way the host does for plugins.
func TestDecodeBody(t *testing.T) {
	e := loadFull(t, nil, nil)
	teacherCfg := &hcldec.ObjectSpec{
		"api_key":  &hcldec.AttrSpec{Name: "api_key", Type: cty.String, Required: true},
		"base_url": &hcldec.AttrSpec{Name: "base_url", Type: cty.String},
	}
	judgeCfg := &hcldec.ObjectSpec{
		"rubric": &hcldec.AttrSpec{Name: "rubric", Type: cty.String, Required: true},
		"judge":  &hcldec.AttrSpec{Name: "judge", Type: cty.String},
	}
	byName := map[string]*Teacher{}
	for _, tc := range e.Teachers {
		byName[tc.Name] = tc
	}
	cases := []struct {
		name      string
		body      hcl.Body
		spec      hcldec.Spec
		want      map[string]string
		sensitive []string
		errLine   int // line of the expected error subject, 0 = no error
		errFile   string
	}{
		{"env key stays sensitive", byName["gpt4o"].Config, teacherCfg,
			map[string]string{"api_key": "sk-test-123", "base_url": "http://127.0.0.1:9999/v1"}, []string{"api_key"}, 0, ""},
		{"sensitive variable", byName["aya"].Config, teacherCfg, map[string]string{"api_key": "hunter2"}, []string{"api_key"}, 0, ""},
		{"references to locals and blocks", e.Metrics[1].Config, judgeCfg,
			map[string]string{"rubric": "custom judge rubric", "judge": "gpt-4o"}, nil, 0, ""},
		{"absent config: required error at the teacher block", byName["aya_copy"].Config, teacherCfg, nil, nil, 49, "teachers.hcl"},
		{"nil body", nil, teacherCfg, nil, nil, -1, ""},
		{"nil body, nothing required", nil, optionalSpec(*judgeCfg), map[string]string{}, nil, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, diags := DecodeBody(tc.body, tc.spec, e.EvalContext())
			if tc.errLine != 0 {
				if !diags.HasErrors() {
					t.Fatalf("want an error, got %#v", v)
				}
				if tc.errLine > 0 {
					s := diags[0].Subject
					if s == nil || s.Start.Line != tc.errLine || !strings.HasSuffix(s.Filename, tc.errFile) {
						t.Errorf("error subject = %v, want %s:%d", s, tc.errFile, tc.errLine)
					}
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("unexpected diagnostics: %v", diags)
			}
			u, paths := Unmark(v)
			got := map[string]string{}
			for k, a := range u.AsValueMap() {
				if !a.IsNull() {
					got[k] = a.AsString()
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			var gotPaths []string
			for _, p := range paths {
				gotPaths = append(gotPaths, strings.TrimPrefix(pathString(p), "."))
			}
			if diff := cmp.Diff(tc.sensitive, gotPaths); diff != "" {
				t.Errorf("sensitive paths (-want +got):\n%s", diff)
			}
		})
	}
}

// optional returns a copy of an ObjectSpec with every attribute optional.
func optionalSpec(s hcldec.ObjectSpec) hcldec.ObjectSpec {
	out := hcldec.ObjectSpec{}
	for k, v := range s {
		a := *v.(*hcldec.AttrSpec)
		a.Required = false
		out[k] = &a
	}
	return out
}

func TestWriteDiagnostics(t *testing.T) {
	path := filepath.Join("../../testdata/specs/invalid", "bad_control_kind.hcl")
	e, diags := LoadFiles([]string{path}, LoadOptions{Env: noEnv})
	extra := &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "No subject", Detail: "line one\nline two"}
	diags = append(diags, extra)
	cases := []struct {
		name  string
		e     *Experiment
		color bool
		want  []string
		not   []string
	}{
		{"plain", e, false, []string{
			path + ":12:11: error: Invalid control kind",
			`     12 |   kind  = "scramble" # ERROR: Invalid control kind`,
			"        |           ^^^^^^^^^^\n",
			`Did you mean "scramble_words"?`,
			"warning: No subject\n  line one\n  line two\n",
		}, []string{"\x1b["}},
		{"color", e, true, []string{"\x1b[1;31merror:\x1b[0m", "\x1b[1;33mwarning:"}, nil},
		{"nil experiment", nil, false, []string{path + ":12:11: error: Invalid control kind\n  \"scramble\""}, []string{" | "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.e.WriteDiagnostics(&buf, diags, tc.color)
			out := buf.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("output contains %q:\n%s", n, out)
				}
			}
		})
	}
	// Every error of every invalid file has a file:line:col location.
	loc := regexp.MustCompile(`^\S+\.hcl:\d+:\d+: error: `)
	paths, _ := filepath.Glob("../../testdata/specs/invalid/*.hcl")
	for _, p := range paths {
		e, diags := LoadFiles([]string{p}, LoadOptions{Env: noEnv})
		for _, d := range diags {
			var buf bytes.Buffer
			e.WriteDiagnostics(&buf, hcl.Diagnostics{d}, false)
			if !loc.MatchString(buf.String()) {
				t.Errorf("%s: no file:line:col in %q", p, buf.String())
			}
		}
	}
}

func TestEvalContextFunctions(t *testing.T) {
	e := loadFull(t, nil, nil)
	cases := []struct {
		expr string
		want string
	}{
		{`upper(teacher.gpt4o.family)`, `"GPT"`},
		{`join(",", experiment.languages)`, `"ar,de"`},
		{`length(keys(strategy.translate.step))`, `2`},
		{`seeds.human.columns.tags`, `"task_family"`},
		{`env("POLYGLOT_TEST_KEY")`, `"(sensitive)"`},
		{`env("SURELY_UNSET_FOR_TEST", "fallback")`, `"(sensitive)"`},
		{`jsonencode({a = local.sample})`, `"{\"a\":200}"`},
		{`coalesce(null, "x")`, `"x"`},
		{`max(1, 5, 3)`, `5`},
		{`format("%s-%d", "a", 1)`, `"a-1"`},
		{`try(teacher.gpt4o.nope, "d")`, `"d"`},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			ex, d := hclParseExpr(tc.expr)
			if d.HasErrors() {
				t.Fatal(d)
			}
			v, d := ex.Value(e.EvalContext())
			if d.HasErrors() {
				t.Fatal(d)
			}
			if got := FormatValue(v); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.expr, got, tc.want)
			}
		})
	}
}

func hclParseExpr(src string) (hcl.Expression, hcl.Diagnostics) {
	return hclsyntax.ParseExpression([]byte(src), "test.hcl", hcl.InitialPos)
}

func TestLookups(t *testing.T) {
	e := loadFull(t, nil, nil)
	cases := []struct {
		name string
		got  any
		want string
	}{
		{"teacher", e.Teacher("aya").Model, "AYA-EXPANSE-8B"},
		{"seeds", e.SeedSet("native").Format, "jsonl"},
		{"control", e.Control("truncated").Kind, "truncate"},
		{"strategy", e.Strategy("translate").Steps[1].Teacher, "gpt4o"},
		{"metric", e.Metric("ppl").Direction, "lower"},
		{"student", e.Student("olmo").Executor.Kind, "slurm"},
		{"benchmark", e.Benchmark("mgsm").Task, "mgsm"},
		{"plugin", e.RequiredPlugin("echo").Source, "./plugins/echo"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if e.Teacher("nope") != nil || e.Metric("nope") != nil {
		t.Errorf("lookup of an absent name must be nil")
	}
	if v, ok := e.Value("teacher.gpt4o"); !ok || v.GetAttr("limits").GetAttr("timeout").AsString() != "60s" {
		t.Errorf("Value(teacher.gpt4o) = %#v", v)
	}
}

// TestMultiFile checks that blocks from several files form one experiment,
// references cross files, and duplicates across files are reported at the
// second declaration with the first one's location in the detail.
func TestMultiFile(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string
		summary string // "" = must load cleanly
		file    string
		line    int
	}{
		{"cross-file reference", map[string]string{
			"a.hcl": "experiment \"x\" {\n  languages = [\"de\"]\n}\n",
			"b.hcl": "teacher \"t\" {\n  plugin = \"echo\"\n  model  = join(\"-\", experiment.languages)\n}\n",
		}, "", "", 0},
		{"duplicate teacher across files", map[string]string{
			"a.hcl": "experiment \"x\" {\n  languages = [\"de\"]\n}\nteacher \"t\" {\n  plugin = \"echo\"\n  model  = \"m\"\n}\n",
			"b.hcl": "\nteacher \"t\" {\n  plugin = \"echo\"\n  model  = \"m\"\n}\n",
		}, "Duplicate teacher", "b.hcl", 2},
		{"duplicate experiment across files", map[string]string{
			"a.hcl": "experiment \"x\" {\n  languages = [\"de\"]\n}\n",
			"b.hcl": "experiment \"y\" {\n  languages = [\"de\"]\n}\n",
		}, "Duplicate experiment block", "b.hcl", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, src := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			e, diags := LoadDir(dir, LoadOptions{Env: noEnv})
			if tc.summary == "" {
				if diags.HasErrors() {
					t.Fatalf("unexpected: %v", diags)
				}
				if e.Teachers[0].Model != "de" {
					t.Errorf("model = %q", e.Teachers[0].Model)
				}
				return
			}
			if len(diags) != 1 || !strings.Contains(diags[0].Summary, tc.summary) ||
				filepath.Base(diags[0].Subject.Filename) != tc.file || diags[0].Subject.Start.Line != tc.line ||
				!strings.Contains(diags[0].Detail, "a.hcl:") {
				t.Errorf("want one %q at %s:%d citing a.hcl, got %v", tc.summary, tc.file, tc.line, diags)
			}
		})
	}
}

func BenchmarkLoadFull(b *testing.B) {
	opts := LoadOptions{Vars: map[string]string{"api_key": "k"}, Env: mapEnv(map[string]string{"POLYGLOT_TEST_KEY": "x"})}
	dir := filepath.Join(validDir, "full")
	for b.Loop() {
		if _, diags := LoadDir(dir, opts); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}
