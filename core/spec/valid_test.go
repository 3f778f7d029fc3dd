package spec

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

const validDir = "../../testdata/specs/valid"

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// cmpOpts ignore what go-cmp cannot compare meaningfully (ranges and raw
// bodies are checked in their own tests) and compare cty values exactly.
var cmpOpts = []cmp.Option{
	cmpopts.IgnoreTypes(hcl.Range{}, map[string]hcl.Range{}),
	cmpopts.IgnoreFields(Teacher{}, "Config", "ConfigRange"),
	cmpopts.IgnoreFields(Metric{}, "Config", "ConfigRange"),
	cmpopts.IgnoreFields(Student{}, "Config", "ConfigRange"),
	cmpopts.IgnoreFields(RequiredPlugin{}, "Constraints"),
	cmpopts.IgnoreFields(Local{}, "Expr"),
	cmpopts.IgnoreUnexported(Experiment{}),
	cmp.Comparer(func(a, b cty.Value) bool { return a.RawEquals(b) }),
	cmp.Comparer(func(a, b cty.Type) bool { return a.Equals(b) }),
}

func ptr[T any](v T) *T { return &v }

func mustLoad(t *testing.T, dir string, opts LoadOptions) *Experiment {
	t.Helper()
	e, diags := LoadDir(dir, opts)
	if len(diags) > 0 {
		var sb strings.Builder
		e.WriteDiagnostics(&sb, diags, false)
		t.Fatalf("load %s: want no diagnostics, got:\n%s", dir, sb.String())
	}
	return e
}

func TestLoadMinimal(t *testing.T) {
	dir := filepath.Join(validDir, "minimal")
	e := mustLoad(t, dir, LoadOptions{Env: noEnv})
	abs, _ := filepath.Abs(dir)
	want := &Experiment{
		Name:            "minimal",
		Languages:       []string{"de"},
		RandomSeeds:     []int64{1},
		Store:           filepath.Join(abs, ".polyglot"),
		ExamplesPerCell: 10500,
		MetricSample:    10000,
		Dir:             abs,
		Files:           []string{filepath.Join(dir, "experiment.hcl")},
		Teachers: []*Teacher{{
			Name: "echo", Plugin: "echo", Model: "echo-1", Generate: true, BatchMaxRequests: DefaultBatchMaxRequests,
			Limits: Limits{Concurrency: 4, Timeout: 120 * time.Second, MaxRetries: 5, MaxRetryWait: 5 * time.Minute},
		}},
		Score: &Score{
			Alpha: 0.5, Metrics: []string{}, PGR: "ratio_then_mean", Standardize: "published",
			Confidence: 0.95, Bootstrap: 1000, Alphas: []float64{0, 0.25, 0.5, 0.75, 1},
			PCA: "scored", MinExamples: DefaultMinExamples, MinExampleShare: DefaultMinExampleShare,
		},
		Sensitive: []string{},
	}
	if diff := cmp.Diff(want, e, cmpOpts...); diff != "" {
		t.Errorf("minimal experiment mismatch (-want +got):\n%s", diff)
	}
	if e.DeclRange.Start.Line != 2 || !strings.HasSuffix(e.DeclRange.Filename, "experiment.hcl") {
		t.Errorf("experiment DeclRange = %s, want experiment.hcl line 2", e.DeclRange)
	}
	if e.Teachers[0].ConfigRange != nil {
		t.Errorf("ConfigRange = %v, want nil without a config block", e.Teachers[0].ConfigRange)
	}
}

func loadFull(t *testing.T, extraEnv map[string]string, vars map[string]string) *Experiment {
	t.Helper()
	env := map[string]string{"POLYGLOT_TEST_KEY": "sk-test-123"}
	for k, v := range extraEnv {
		env[k] = v
	}
	if vars == nil {
		vars = map[string]string{"api_key": "hunter2"}
	}
	return mustLoad(t, filepath.Join(validDir, "full"), LoadOptions{Vars: vars, Env: mapEnv(env)})
}

func TestLoadFull(t *testing.T) {
	e := loadFull(t, nil, nil)
	abs, _ := filepath.Abs(filepath.Join(validDir, "full"))
	in := func(p string) string { return filepath.Join(abs, p) }

	t.Run("experiment", func(t *testing.T) {
		got := struct {
			Name            string
			Languages       []string
			Seeds           []int64
			Store           string
			ExamplesPerCell int
			MetricSample    int
			Budget          *float64
			Files           []string
		}{e.Name, e.Languages, e.RandomSeeds, e.Store, e.ExamplesPerCell, e.MetricSample, e.BudgetUSD, e.Files}
		want := got
		want.Name, want.Languages, want.Seeds = "full", []string{"ar", "de"}, []int64{1, 2, 3}
		want.Store, want.ExamplesPerCell, want.MetricSample, want.Budget = in("run-store"), 300, 200, ptr(100.0)
		dir := filepath.Join(validDir, "full")
		want.Files = []string{filepath.Join(dir, "main.hcl"), filepath.Join(dir, "pipeline.hcl"), filepath.Join(dir, "teachers.hcl")}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("variables and locals", func(t *testing.T) {
		want := []*Variable{
			{Name: "languages", Type: cty.List(cty.String), Default: cty.ListVal([]cty.Value{cty.StringVal("ar"), cty.StringVal("de")}),
				Description: "target languages", Value: cty.ListVal([]cty.Value{cty.StringVal("ar"), cty.StringVal("de")}), Source: "default"},
			{Name: "api_key", Type: cty.String, Sensitive: true, Value: cty.StringVal("hunter2").Mark(Sensitive), Source: "var"},
			{Name: "temperature", Type: cty.Number, Default: cty.NumberFloatVal(0.8), Value: cty.NumberFloatVal(0.8), Source: "default"},
		}
		if diff := cmp.Diff(want, e.Variables, cmpOpts...); diff != "" {
			t.Errorf("variables (-want +got):\n%s", diff)
		}
		wantLocals := []*Local{
			{Name: "prefix", Value: cty.StringVal("run")},
			{Name: "sample", Value: cty.NumberIntVal(200)},
			{Name: "family", Value: cty.StringVal("command")},
			{Name: "rubric", Value: cty.StringVal("custom judge rubric")},
		}
		if diff := cmp.Diff(wantLocals, e.Locals, cmpOpts...); diff != "" {
			t.Errorf("locals (-want +got):\n%s", diff)
		}
	})

	t.Run("required plugins", func(t *testing.T) {
		want := []*RequiredPlugin{
			{Name: "openai", Source: "github.com/acme/polyglot-plugin-openai", Version: ">= 0.1.0, < 2.0"},
			{Name: "echo", Source: "./plugins/echo"},
		}
		if diff := cmp.Diff(want, e.RequiredPlugins, cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := e.RequiredPlugins[0].Constraints.String(); got != ">= 0.1.0, < 2.0" {
			t.Errorf("constraints = %q", got)
		}
		if e.RequiredPlugins[1].Constraints != nil {
			t.Errorf("no version should give nil constraints")
		}
	})

	t.Run("seeds", func(t *testing.T) {
		want := []*SeedSet{
			{Name: "human", Path: "data/seeds.jsonl", Files: []string{in("data/seeds.jsonl")}, Format: "jsonl", Language: "en",
				Columns: SeedColumns{ID: "id", Prompt: "prompt", Response: "response", Language: "language", Strategies: "strategies", Tags: "task_family"}},
			{Name: "native", Path: "data/native_*.jsonl", Files: []string{in("data/native_ar.jsonl"), in("data/native_de.jsonl")}, Format: "jsonl",
				Columns: SeedColumns{ID: "id", Prompt: "prompt", Response: "response", Language: "language", Strategies: "strategies", Tags: "tags"}},
		}
		if diff := cmp.Diff(want, e.SeedSets, cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("teachers", func(t *testing.T) {
		defLimits := Limits{Concurrency: 4, Timeout: 120 * time.Second, MaxRetries: 5, MaxRetryWait: 5 * time.Minute}
		copyLimits := defLimits
		copyLimits.Timeout = 30 * time.Second
		want := []*Teacher{
			{Name: "gpt4o", Plugin: "openai", Component: "chat", Model: "gpt-4o", Family: "gpt",
				Parameters: ptr(2e11), BenchmarkStrength: ptr(0.8), Batch: true, BatchMaxRequests: DefaultBatchMaxRequests, Generate: true,
				Price:    Price{InputPerMTok: 2.5, OutputPerMTok: 10},
				Sampling: Sampling{Temperature: ptr(0.8), TopP: ptr(0.9), TopK: ptr(64), MaxTokens: ptr(2048), Seed: ptr[int64](1), Stop: []string{"\n\n"}},
				Limits: Limits{Concurrency: 16, RequestsPerMinute: 500, TokensPerMinute: 200000, Timeout: 60 * time.Second,
					MaxRetries: 5, MaxRetryWait: 5 * time.Minute, BudgetUSD: ptr(20.0), Reasks: 2, Adaptive: true}},
			{Name: "aya", Plugin: "openai", Model: "AYA-EXPANSE-8B", Family: "command", Sampling: Sampling{Temperature: ptr(0.3)}, Limits: defLimits, BatchMaxRequests: DefaultBatchMaxRequests, Generate: true},
			{Name: "aya_copy", Plugin: "openai", Model: "AYA-EXPANSE-8B-copy", Family: "command", Limits: copyLimits, BatchMaxRequests: DefaultBatchMaxRequests, Generate: true},
		}
		if diff := cmp.Diff(want, e.Teachers, cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if e.Teachers[0].ConfigRange == nil || e.Teachers[2].ConfigRange != nil {
			t.Errorf("ConfigRange: want set for gpt4o, nil for aya_copy")
		}
	})

	t.Run("datasets", func(t *testing.T) {
		want := []*Dataset{
			{Name: "sft", Rule: "top_k", K: 2, Rows: 5000, StrategyMix: map[string]float64{"respond": 3, "translate": 1},
				HeldOut: 0.1, SplitSeed: 7, Langid: "keep", System: "field", License: "other",
				Dedup:         DatasetDedup{Exact: true, Near: true, Threshold: 0.9, Shingle: 5, Seeds: true},
				Decontaminate: &DatasetDecontaminate{Files: []string{in("data/bench.jsonl")}, NGram: 8, MinTokens: 6}},
			{Name: "hand", Rule: "table", K: 2, Table: map[string]map[string]float64{"*": {"gpt4o": 1}, "ar": {"aya/translate": 2, "gpt4o": 1}},
				Tokens: 100000, HeldOut: 0.05, SplitSeed: 1, Langid: "drop", System: "messages", License: "other",
				Dedup: DatasetDedup{Exact: true, Near: true, Threshold: 0.8, Shingle: 5}},
		}
		if diff := cmp.Diff(want, e.Datasets, cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("controls strategies metrics", func(t *testing.T) {
		wantC := []*Control{
			{Name: "scrambled", Kind: "scramble_words", Seeds: "human", CaughtBy: []string{"ppl"}, Fraction: 1},
			{Name: "truncated", Kind: "truncate", Seeds: "native", CaughtBy: []string{"ppl", "judge"}, Fraction: 0.5},
		}
		if diff := cmp.Diff(wantC, e.Controls, cmpOpts...); diff != "" {
			t.Errorf("controls (-want +got):\n%s", diff)
		}
		wantS := []*Strategy{
			{Name: "respond", Share: 1, Input: StrategyInput{Seeds: "native", Language: "target", Tags: nil},
				Steps: []*Step{{Name: "answer", Teacher: "self", System: in("templates/system.txt"), Template: in("templates/respond.txt"), Output: "text"}},
				Emit:  Emit{Prompt: "seed.prompt", Response: "steps.answer.text"}},
			{Name: "translate", Share: 2, InContext: 3, Input: StrategyInput{Seeds: "human", Language: "en", Tags: []string{"math"}},
				Steps: []*Step{
					{Name: "translate", Teacher: "self", System: in("templates/system.txt"), Template: in("templates/translate.txt"), Output: "json",
						Schema: map[string]string{"prompt": "string", "response": "string"}},
					{Name: "polish", Teacher: "gpt4o", Template: in("templates/polish.txt"), Output: "text", MaxTokens: ptr(1024)},
				},
				Emit: Emit{Prompt: "steps.translate.prompt", Response: "steps.polish.text"}},
		}
		if diff := cmp.Diff(wantS, e.Strategies, cmpOpts...); diff != "" {
			t.Errorf("strategies (-want +got):\n%s", diff)
		}
		wantM := []*Metric{
			{Name: "ppl", Plugin: "perplexity", Direction: "lower", InScore: true, Sample: 200},
			{Name: "judge", Plugin: "judge", InScore: true, Sample: 500},
			{Name: "length", Plugin: "length", InScore: false, Sample: 200},
		}
		if diff := cmp.Diff(wantM, e.Metrics, cmpOpts...); diff != "" {
			t.Errorf("metrics (-want +got):\n%s", diff)
		}
	})

	t.Run("students benchmarks score", func(t *testing.T) {
		wantSt := []*Student{
			{Name: "olmo", BaseModel: "allenai/Olmo-3-7B", Family: "olmo", Reference: "allenai/Olmo-3-7B-Instruct", Trainer: "trl",
				Hyperparameters: map[string]cty.Value{"learning_rate": cty.MustParseNumberVal("5e-5"), "epochs": cty.NumberIntVal(2)},
				Executor:        Executor{Kind: "slurm", Partition: "gpu", Account: "x", Time: "04:00:00", GPUs: 1, Extra: map[string]string{"constraint": "a100"}}},
			{Name: "gemma", BaseModel: "google/gemma-3-4b-pt", Trainer: "trl", Hyperparameters: map[string]cty.Value{}, Executor: Executor{Kind: "local"}},
		}
		if diff := cmp.Diff(wantSt, e.Students, cmpOpts...); diff != "" {
			t.Errorf("students (-want +got):\n%s", diff)
		}
		wantB := []*Benchmark{
			{Name: "global_mmlu_lite", Task: "global_mmlu_lite", Languages: []string{"ar"}, Shots: 0, Metric: "acc", Weight: 1},
			{Name: "mgsm", Task: "mgsm", Languages: []string{"ar", "de"}, Shots: 5, Metric: "acc", Weight: 1},
		}
		if diff := cmp.Diff(wantB, e.Benchmarks, cmpOpts...); diff != "" {
			t.Errorf("benchmarks (-want +got):\n%s", diff)
		}
		wantScore := &Score{Alpha: 0.5, Metrics: []string{"ppl", "judge"}, PGR: "mean_then_ratio", Standardize: "restandardized",
			Confidence: 0.9, Bootstrap: 200, Alphas: []float64{0, 0.5, 1},
			PCA: "scored", MinExamples: DefaultMinExamples, MinExampleShare: DefaultMinExampleShare}
		if diff := cmp.Diff(wantScore, e.Score, cmpOpts...); diff != "" {
			t.Errorf("score (-want +got):\n%s", diff)
		}
	})

	t.Run("ranges", func(t *testing.T) {
		st := e.Strategies[1].Steps[1]
		r, ok := st.Ranges["teacher"]
		if !ok || !strings.HasSuffix(r.Filename, "pipeline.hcl") || r.Start.Line != 44 {
			t.Errorf("step polish teacher range = %s, want pipeline.hcl:44", r)
		}
		if e.Teachers[0].DeclRange.Start.Line != 1 || !strings.HasSuffix(e.Teachers[0].DeclRange.Filename, "teachers.hcl") {
			t.Errorf("teacher DeclRange = %s", e.Teachers[0].DeclRange)
		}
	})
}

// TestVariableSources checks precedence: -var over POLYGLOT_VAR_<name> over
// default, and that -var values parse as HCL when they can.
func TestVariableSources(t *testing.T) {
	cases := []struct {
		name      string
		vars      map[string]string
		env       map[string]string
		wantLangs []string
		wantTemp  float64
	}{
		{"defaults", map[string]string{"api_key": "k"}, nil, []string{"ar", "de"}, 0.8},
		{"cli list", map[string]string{"api_key": "k", "languages": `["ja", "tl"]`}, nil, []string{"ja", "tl"}, 0.8},
		{"env", map[string]string{"api_key": "k"}, map[string]string{"POLYGLOT_VAR_languages": `["cs"]`, "POLYGLOT_VAR_temperature": "1"}, []string{"cs"}, 1},
		{"cli beats env", map[string]string{"api_key": "k", "temperature": "0.3"}, map[string]string{"POLYGLOT_VAR_temperature": "1"}, []string{"ar", "de"}, 0.3},
		{"api key from env", nil, map[string]string{"POLYGLOT_VAR_api_key": "from-env"}, []string{"ar", "de"}, 0.8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vars := tc.vars
			if vars == nil {
				vars = map[string]string{}
			}
			e := loadFull(t, tc.env, vars)
			if diff := cmp.Diff(tc.wantLangs, e.Languages); diff != "" {
				t.Errorf("languages (-want +got):\n%s", diff)
			}
			if got := *e.Teachers[0].Sampling.Temperature; got != tc.wantTemp {
				t.Errorf("temperature = %g, want %g", got, tc.wantTemp)
			}
		})
	}
}

func TestVariableErrors(t *testing.T) {
	cases := []struct {
		name    string
		vars    map[string]string
		summary string
	}{
		{"undeclared -var", map[string]string{"api_key": "k", "langauges": `["ar"]`}, "Value for undeclared variable"},
		{"wrong type", map[string]string{"api_key": "k", "temperature": "hot"}, "Invalid value for variable"},
		{"missing required", map[string]string{}, "No value for required variable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := LoadDir(filepath.Join(validDir, "full"), LoadOptions{Vars: tc.vars, Env: mapEnv(map[string]string{"POLYGLOT_TEST_KEY": "x"})})
			found := false
			for _, d := range diags {
				if strings.Contains(d.Summary, tc.summary) {
					found = true
				}
			}
			if !found {
				t.Errorf("want a %q diagnostic, got %v", tc.summary, diags)
			}
		})
	}
}

func TestParseVarValue(t *testing.T) {
	cases := []struct {
		in   string
		want cty.Value
	}{
		{"3", cty.NumberIntVal(3)},
		{"true", cty.True},
		{`"quoted"`, cty.StringVal("quoted")},
		{"gpt-4o", cty.StringVal("gpt-4o")},
		{"hello world", cty.StringVal("hello world")},
		{`["a", "b"]`, cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")})},
		{"", cty.StringVal("")},
	}
	for _, tc := range cases {
		if got := parseVarValue(tc.in); !got.RawEquals(tc.want) {
			t.Errorf("parseVarValue(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestLoadDirErrors(t *testing.T) {
	empty := t.TempDir()
	cases := []struct {
		dir     string
		summary string
	}{
		{filepath.Join(empty, "missing"), "Cannot read spec folder"},
		{empty, "No spec files"},
	}
	for _, tc := range cases {
		e, diags := LoadDir(tc.dir, LoadOptions{})
		if e == nil || !diags.HasErrors() || !strings.Contains(diags[0].Summary, tc.summary) {
			t.Errorf("LoadDir(%s): want %q, got %v", tc.dir, tc.summary, diags)
		}
	}
}
