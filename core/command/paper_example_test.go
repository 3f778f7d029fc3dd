package command_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// studyTeacher is one row of the reference study's teacher table: the
// checkpoint, parameter count (0: not given, a vendor model), family and
// recommended sampling (nil: not set).
type studyTeacher struct {
	model      string
	params     float64
	family     string
	temp, topP *float64
	topK       *int
}

func f(v float64) *float64 { return &v }
func i(v int) *int         { return &v }

var studyTeachers = []studyTeacher{
	{"gpt-4o-mini-2024-07-18", 0, "gpt", f(0.8), f(0.9), nil},
	{"meta-llama/Llama-3.1-70B-Instruct", 70e9, "llama", f(0.6), f(0.9), nil},
	{"meta-llama/Llama-3.1-8B-Instruct", 8e9, "llama", f(0.6), f(0.9), nil},
	{"command-a-03-2025", 104e9, "cohere", f(0.3), nil, nil},
	{"CohereLabs/aya-expanse-32b", 32e9, "cohere", f(0.3), nil, nil},
	{"google/gemma-3-27b-it", 27e9, "gemma", f(1.0), f(0.95), i(64)},
	{"google/gemma-3-12b-it", 12e9, "gemma", f(1.0), f(0.95), i(64)},
	{"google/gemma-3-4b-it", 4e9, "gemma", f(1.0), f(0.95), i(64)},
	{"ibm-granite/granite-4.0-1b", 1e9, "granite", f(0.0), nil, nil},
	{"ibm-granite/granite-4.0-micro", 3e9, "granite", f(0.0), nil, nil},
}

func loadPaper(t *testing.T, vars map[string]string) *spec.Experiment {
	t.Helper()
	e, diags := spec.LoadDir(filepath.Join(repoRoot, "examples", "paper"), spec.LoadOptions{
		Vars: vars,
		Env: func(k string) (string, bool) {
			v, ok := fakeKeys[k]
			return v, ok
		},
	})
	if diags.HasErrors() {
		t.Fatalf("examples/paper does not load: %v", diags)
	}
	return e
}

func eqPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// TestPaperExampleIsTheStudy pins examples/paper to the reference study's
// setup: its teachers, judge, data sizes, seeds, strategies, training and
// score settings. A change here must come with a line in the example's
// README saying how the example now differs from the study.
func TestPaperExampleIsTheStudy(t *testing.T) {
	e := loadPaper(t, nil)
	var got []*spec.Teacher
	for _, te := range e.Teachers {
		if te.Generate {
			got = append(got, te)
		}
	}
	if len(got) != len(studyTeachers) {
		t.Fatalf("%d generating teachers, the study has %d", len(got), len(studyTeachers))
	}
	for _, want := range studyTeachers {
		i := slices.IndexFunc(got, func(te *spec.Teacher) bool { return te.Model == want.model })
		if i < 0 {
			t.Errorf("no teacher with the study's checkpoint %s", want.model)
			continue
		}
		te := got[i]
		if te.Family != want.family {
			t.Errorf("%s: family %q, want %q", want.model, te.Family, want.family)
		}
		if want.params > 0 && (te.Parameters == nil || *te.Parameters != want.params) {
			t.Errorf("%s: parameters %v, want %g", want.model, te.Parameters, want.params)
		}
		s := te.Sampling
		if !eqPtr(s.Temperature, want.temp) || !eqPtr(s.TopP, want.topP) || !eqPtr(s.TopK, want.topK) {
			t.Errorf("%s: sampling T=%v top-p=%v top-k=%v, want the study's %v %v %v", want.model, deref(s.Temperature), deref(s.TopP), deref(s.TopK), deref(want.temp), deref(want.topP), deref(want.topK))
		}
		// Seed prompts over 4,096 - 500 tokens are dropped.
		if te.ContextTokens == nil || s.MaxTokens == nil || *te.ContextTokens-*s.MaxTokens != 3596 {
			t.Errorf("%s: context_tokens - max_tokens is not the study's 3,596-token prompt cut", want.model)
		}
	}
	// The code's uniform sampling is one variable away.
	for _, te := range loadPaper(t, map[string]string{"uniform_sampling": "true"}).Teachers {
		if te.Generate && (!eqPtr(te.Sampling.Temperature, f(0.8)) || !eqPtr(te.Sampling.TopP, f(0.9)) || te.Sampling.TopK != nil) {
			t.Errorf("uniform_sampling: %s samples T=%v top-p=%v top-k=%v, want 0.8 / 0.9 / unset", te.Name, deref(te.Sampling.Temperature), deref(te.Sampling.TopP), deref(te.Sampling.TopK))
		}
	}
	if j := e.Teacher("m_prometheus"); j == nil || j.Model != "Unbabel/M-Prometheus-14B" || j.Generate {
		t.Errorf("the judge is not M-Prometheus 14B as a helper teacher (generate = false)")
	}
	if !slices.Equal(e.Languages, []string{"ar", "cs", "de", "es", "id", "ja"}) || !slices.Equal(e.RandomSeeds, []int64{1, 2, 3}) {
		t.Errorf("languages %v, seeds %v; want the study's six languages and three seeds", e.Languages, e.RandomSeeds)
	}
	if e.ExamplesPerCell != 10500 || e.MetricSample != 10000 {
		t.Errorf("examples_per_cell %d, metric_sample %d; want 10,500 and 10,000", e.ExamplesPerCell, e.MetricSample)
	}
	var names []string
	for _, s := range e.Strategies {
		names = append(names, s.Name)
		if s.Share != 1 {
			t.Errorf("strategy %s has share %g; the study splits a cell equally (3,500 each)", s.Name, s.Share)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"generate", "respond", "translate"}) {
		t.Errorf("strategies %v, want generate, respond, translate", names)
	}
	if st := e.Strategy("generate"); st == nil || st.InContext != 3 {
		t.Errorf("generate does not show three in-context seed pairs")
	}
	if len(e.Students) != 1 {
		t.Fatalf("%d students, want OLMo 3 7B alone", len(e.Students))
	}
	s := e.Students[0]
	if s.BaseModel != "allenai/Olmo-3-1025-7B" || s.Reference != "allenai/Olmo-3-7B-Instruct-SFT" {
		t.Errorf("student %s / reference %s, want OLMo 3 7B base and OLMo 3 7B Instruct SFT", s.BaseModel, s.Reference)
	}
	wantHyper := map[string]cty.Value{
		"method": cty.StringVal("qlora"), "unsloth": cty.True, "lora_r": cty.NumberIntVal(16), "lora_alpha": cty.NumberIntVal(16),
		"lora_dropout": cty.NumberIntVal(0), "learning_rate": cty.NumberFloatVal(5e-5), "epochs": cty.NumberIntVal(2),
		"batch_size": cty.NumberIntVal(2), "gradient_accumulation_steps": cty.NumberIntVal(4), "max_length": cty.NumberIntVal(16384),
		"optimizer": cty.StringVal("adamw_8bit"), "weight_decay": cty.NumberFloatVal(0.001), "lr_scheduler": cty.StringVal("linear"),
		"warmup_steps": cty.NumberIntVal(5), "seed": cty.NumberIntVal(3407), "packing": cty.False, "chat_template": cty.StringVal("llama-3.1"),
	}
	for k, want := range wantHyper {
		v, ok := s.Hyperparameters[k]
		if !ok || !v.Equals(want).True() {
			t.Errorf("hyperparameter %s = %#v, want the study's %#v", k, v, want)
		}
	}
	metrics := map[string]string{}
	for _, b := range e.Benchmarks {
		metrics[b.Name] = b.Metric
	}
	if metrics["m_rewardbench"] != "weighted_acc" || metrics["global_mmlu_lite"] != "acc" || metrics["mgsm"] != "extractive_match" {
		t.Errorf("benchmark metrics %v; want acc, weighted_acc and extractive_match", metrics)
	}
	if e.Score.PGR != "mean_then_ratio" || e.Score.Alpha != 0.5 || e.Score.Standardize != "published" {
		t.Errorf("score %s / alpha %g / %s; want the published numbers' mean_then_ratio, 0.5, published", e.Score.PGR, e.Score.Alpha, e.Score.Standardize)
	}
}

// TestPaperAblationSharesTheStudysSetup: the NLLB ablation's teachers,
// metrics, one-step strategy and their templates are examples/paper's,
// byte for byte, and its two-step strategy calls NLLB-200 first.
func TestPaperAblationSharesTheStudysSetup(t *testing.T) {
	paper := filepath.Join(repoRoot, "examples", "paper")
	ablation := filepath.Join(repoRoot, "examples", "paper-nllb-ablation")
	for _, f := range []string{"teachers.hcl", "metrics.hcl", "servers.hcl", "translate.hcl", "templates/system.txt", "templates/translate.txt", "templates/judge_rubric.txt"} {
		a, err := os.ReadFile(filepath.Join(paper, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(ablation, f))
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Errorf("examples/paper-nllb-ablation/%s differs from examples/paper/%s; copy it again", f, f)
		}
	}
	e, diags := spec.LoadDir(ablation, spec.LoadOptions{Env: func(k string) (string, bool) {
		v, ok := fakeKeys[k]
		return v, ok
	}})
	if diags.HasErrors() {
		t.Fatalf("the ablation does not load: %v", diags)
	}
	st := e.Strategy("translate_nllb")
	if st == nil || len(st.Steps) != 2 || st.Steps[0].Teacher != "nllb" || e.Strategy("translate") == nil {
		t.Fatal("the ablation lacks translate and a two-step translate_nllb whose first step is NLLB")
	}
	if mt := e.Teacher("nllb"); mt == nil || mt.Generate || !strings.HasPrefix(mt.Model, "facebook/nllb-200") {
		t.Errorf("the nllb teacher is not an NLLB-200 helper (generate = false)")
	}
	if e.ExamplesPerCell != 7000 || len(e.Strategies) != 2 {
		t.Errorf("%d examples over %d strategies per cell, want 3,500 for each of two", e.ExamplesPerCell, len(e.Strategies))
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}
