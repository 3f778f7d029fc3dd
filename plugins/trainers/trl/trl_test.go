package trl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"iter"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/polyglot-teachers/polyglot/sdk"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs from the golden file (-want +got; -update rewrites):\n%s", name, d)
	}
}

// checkSyntax runs the real interpreters' syntax checks on rendered scripts
// when they are installed.
func checkSyntax(t *testing.T, job *sdk.Job) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range job.Files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var cmd *exec.Cmd
		switch filepath.Ext(name) {
		case ".py":
			if _, err := exec.LookPath("python3"); err != nil {
				continue
			}
			cmd = exec.Command("python3", "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", p)
		case ".sh":
			cmd = exec.Command("bash", "-n", p)
		case ".json":
			if !json.Valid(data) {
				t.Errorf("%s is not valid JSON", name)
			}
			continue
		default:
			continue
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", name, err, out)
		}
	}
}

func TestGoldenTrain(t *testing.T) {
	cases := []struct {
		name  string
		hyper func(h *Hyper)
		gpus  int
	}{
		{"qlora", func(h *Hyper) {}, 1},
		{"qlora_unsloth_study", func(h *Hyper) { h.Unsloth = true; h.ChatTemplate = "llama-3.1" }, 1},
		{"lora_unsloth", func(h *Hyper) { h.Method = LoRA; h.Unsloth = true }, 1},
		{"full_multigpu", func(h *Hyper) { h.Method = Full; h.LearningRate = 1e-5; h.ChatTemplate = "{{ messages }}" }, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := DefaultHyper()
			c.hyper(&h)
			job, err := RenderTrain(TrainSpec{
				BaseModel: "allenai/Olmo-3-1025-7B", Dataset: "/scratch/cells/gemma-de/train.jsonl",
				OutputDir: "/scratch/students/gemma-de", Hyper: h, GPUs: c.gpus, MergeAdapter: true, TimeLimit: "12:00:00",
			})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "train_"+c.name+".py", job.Files[TrainScript])
			golden(t, "train_"+c.name+".json", job.Files[TrainConfig])
			golden(t, "train_"+c.name+".argv", []byte(strings.Join(job.Argv, " ")+"\n"))
			if job.GPUs != c.gpus {
				t.Errorf("job asks for %d GPUs, want %d", job.GPUs, c.gpus)
			}
			checkSyntax(t, job)
		})
	}
}

func TestGoldenEval(t *testing.T) {
	for _, harness := range []string{Lighteval, LMEval} {
		t.Run(harness, func(t *testing.T) {
			plan, err := Resolve(harness, "de", StudyBenchmarks)
			if err != nil {
				t.Fatal(err)
			}
			job, err := RenderEval(EvalSpec{
				Harness: harness, Model: "/scratch/students/gemma-de/merged", Language: "de", Plan: plan,
				OutputDir: "/scratch/eval/gemma-de", CustomTasks: "/opt/polyglot/tasks/study_tasks.py",
				IncludePath: "/opt/polyglot/tasks/lm_eval", Seed: 1234,
			})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "eval_"+harness+".sh", job.Files[EvalScript])
			checkSyntax(t, job)
		})
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		harness, lang string
		in            []sdk.Benchmark
		want          []Resolved
		err           string
	}{
		{LMEval, "ja", StudyBenchmarks, []Resolved{
			{"global_mmlu_lite", "global_mmlu_ja", 0, "acc,none"},
			{"m_rewardbench", "m_rewardbench_ja", 0, "weighted_acc,none"},
			{"mgsm", "mgsm_direct_ja", 5, "exact_match,flexible-extract"},
		}, ""},
		{Lighteval, "de-AT", []sdk.Benchmark{{Name: "mgsm"}}, []Resolved{{"mgsm", "mgsm_num_de|5", 5, "extractive_match"}}, ""},
		// As the spec loader passes them: task = the block name, the
		// study's metric by its plain name.
		{Lighteval, "de", []sdk.Benchmark{
			{Name: "global_mmlu_lite", Task: "global_mmlu_lite", Metric: "acc"},
			{Name: "m_rewardbench", Task: "m_rewardbench", Metric: "weighted_acc", Shots: 0},
			{Name: "mgsm", Task: "mgsm", Metric: "extractive_match", Shots: 5},
		}, []Resolved{
			{"global_mmlu_lite", "global_mmlu_lite_de|0", 0, "acc"},
			{"m_rewardbench", "m_rewardbench_de|0", 0, "weighted_acc"},
			{"mgsm", "mgsm_num_de|5", 5, "extractive_match"},
		}, ""},
		{LMEval, "de", []sdk.Benchmark{{Name: "m_rewardbench", Task: "m_rewardbench", Metric: "weighted_acc"}, {Name: "mgsm", Task: "mgsm", Metric: "exact_match,remove_whitespace"}}, []Resolved{
			{"m_rewardbench", "m_rewardbench_de", 0, "weighted_acc,none"},
			{"mgsm", "mgsm_direct_de", 5, "exact_match,remove_whitespace"},
		}, ""},
		{Lighteval, "cs", []sdk.Benchmark{{Name: "belebele", Task: "belebele_{lang3}_Latn_mcf", Shots: 0}}, []Resolved{{"belebele", "belebele_ces_Latn_mcf|0", 0, ""}}, ""},
		{Lighteval, "cs", []sdk.Benchmark{{Name: "belebele", Task: "lighteval|belebele_{lang3}_Latn_mcf|0"}}, []Resolved{{"belebele", "lighteval|belebele_ces_Latn_mcf|0", 0, ""}}, ""},
		{LMEval, "es", []sdk.Benchmark{{Name: "hellaswag_es", Task: "hellaswag_es", Shots: 10, Metric: "acc_norm,none"}}, []Resolved{{"hellaswag_es", "hellaswag_es", 10, "acc_norm,none"}}, ""},
		{LMEval, "de", []sdk.Benchmark{{Name: "unknown"}}, nil, "not one of the study's"},
		{"helm", "de", StudyBenchmarks, nil, "unknown harness"},
		{LMEval, "not a tag!", StudyBenchmarks, nil, "not a BCP-47 tag"},
	}
	for _, c := range cases {
		got, err := Resolve(c.harness, c.lang, c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Resolve(%s, %s): error %v, want %q", c.harness, c.lang, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("Resolve(%s, %s) (-want +got):\n%s", c.harness, c.lang, d)
		}
	}
}

func TestCollect(t *testing.T) {
	cases := []struct {
		harness string
		dir     string
		want    []sdk.BenchmarkScore
	}{
		// lighteval 0.13.0's writer (testdata/lighteval/README.md): two
		// runs, the newer one wins; the older one's NaN stderr must parse.
		{Lighteval, "testdata/lighteval", []sdk.BenchmarkScore{
			{Benchmark: "global_mmlu_lite", Score: 0.4525, StdErr: 0.024917865553478125, N: 400},
			{Benchmark: "m_rewardbench", Score: 0.6127819548872181, StdErr: 0.012213741006322402, N: 2856},
			{Benchmark: "mgsm", Score: 0.232, StdErr: 0.026750070374865168, N: 250},
		}},
		// lm-eval 0.4.12's writer (testdata/lm_eval/README.md).
		{LMEval, "testdata/lm_eval", []sdk.BenchmarkScore{
			// 42+88+39+73+106+52 = 400 items over the group's subtasks.
			{Benchmark: "global_mmlu_lite", Score: 0.4475, StdErr: 0.02468542842493464, N: 400},
			{Benchmark: "m_rewardbench", Score: 0.5931372549019608, StdErr: math.NaN(), N: 2856},
			{Benchmark: "mgsm", Score: 0.184, StdErr: 0.024556050577484186, N: 250},
		}},
	}
	for _, c := range cases {
		t.Run(c.harness, func(t *testing.T) {
			plan, err := Resolve(c.harness, "de", StudyBenchmarks)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Collect(c.dir, c.harness, plan)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, got, cmpopts.EquateNaNs()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestCollectErrors(t *testing.T) {
	plan, _ := Resolve(LMEval, "de", StudyBenchmarks)
	missing := append(plan, Resolved{Name: "belebele", Task: "belebele_deu_Latn", Metric: "acc,none"})
	if _, err := Collect("testdata/lm_eval", LMEval, missing); err == nil || !strings.Contains(err.Error(), `"belebele_deu_Latn"`) {
		t.Errorf("missing task: error %v, want it named", err)
	}
	if _, err := Collect(t.TempDir(), LMEval, plan); err == nil || !strings.Contains(err.Error(), "no results*.json") {
		t.Errorf("empty dir: error %v", err)
	}
	wrongMetric := []Resolved{{Name: "mgsm", Task: "mgsm_direct_de", Metric: "exact_match,strict-match"}}
	if _, err := Collect("testdata/lm_eval", LMEval, wrongMetric); err == nil || !strings.Contains(err.Error(), "exact_match,flexible-extract") {
		t.Errorf("wrong metric: error %v, want the available metrics listed", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "results_x.json"), []byte(`{"nothing": 1}`), 0o644)
	if _, err := Collect(dir, Lighteval, plan); err == nil || !strings.Contains(err.Error(), `no "results" object`) {
		t.Errorf("foreign JSON: error %v", err)
	}
}

func TestParseKeepsRawKeys(t *testing.T) {
	rs, err := ParseLighteval("testdata/lighteval/results/scratch/students/gemma-de/merged/results_2026-03-14T09-12-44.318012.json")
	if err != nil {
		t.Fatal(err)
	}
	if all, ok := rs["all"]; !ok || all.Metrics["acc"] != 0.4525 || all.Metrics["weighted_acc"] != 0.6127819548872181 {
		t.Errorf("lighteval 'all' row = %+v", rs["all"])
	}
	if mgsm := rs["mgsm_num_de|5"]; mgsm.N != 250 || mgsm.Metrics["extractive_match"] != 0.232 {
		t.Errorf("lighteval keys results task|shots (0.12 and later): mgsm_num_de|5 = %+v", mgsm)
	}
	// A NaN stderr, as Python writes it, parses and reads as not reported.
	old, err := ParseLighteval("testdata/lighteval/results/scratch/students/gemma-de/merged/results_2026-03-14T08-01-02.000001.json")
	if err != nil {
		t.Fatal(err)
	}
	if m := old["mgsm_num_de|5"].Metrics; m["extractive_match"] != 0.2 || len(m) != 1 {
		t.Errorf("NaN stderr: metrics %v, want extractive_match alone", m)
	}
	lm, err := ParseLMEval("testdata/lm_eval/__scratch__students__de-gemma__merged/results_2026-03-14T10-02-11.512345.json")
	if err != nil {
		t.Fatal(err)
	}
	sub := lm["global_mmlu_de_stem"]
	if sub.N != 52 || sub.Metrics["acc,none"] != 0.3815789473684211 {
		t.Errorf("lm-eval subtask = %+v", sub)
	}
	if _, ok := sub.Metrics["alias"]; ok {
		t.Error("non-numeric alias kept as a metric")
	}
	// lm-eval writes "N/A" for stderrs it cannot compute: stderr becomes NaN.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "results.json"), []byte(`{"results":{"t":{"acc,none":0.5,"acc_stderr,none":"N/A","alias":"t"}},"n-samples":{"t":{"original":10,"effective":8}}}`), 0o644)
	got, err := Collect(dir, LMEval, []Resolved{{Name: "t", Task: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Score != 0.5 || !math.IsNaN(got[0].StdErr) || got[0].N != 8 {
		t.Errorf("N/A stderr: %+v", got[0])
	}
}

func TestFindResultsOrdersByTime(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a/results_2026-01-01T00-00-00.json", "b/results_2026-02-01T00-00-00.json", "a/samples_x.jsonl"} {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("{}"), 0o644)
	}
	got, err := FindResults(dir)
	if err != nil || len(got) != 2 || filepath.Base(got[1]) != "results_2026-02-01T00-00-00.json" {
		t.Errorf("FindResults = %v, %v", got, err)
	}
}

func examples(xs ...Example) iter.Seq2[Example, error] {
	return func(yield func(Example, error) bool) {
		for _, x := range xs {
			if !yield(x, nil) {
				return
			}
		}
	}
}

func TestWriteChatDataset(t *testing.T) {
	var b bytes.Buffer
	n, err := WriteChatDataset(&b, "Du bist ein hilfreicher Assistent.", examples(
		Example{"Was ist 2 + 2?", "2 + 2 = 4 <ok> & \"gut\""},
		Example{"¿Qué hora es?", "Son las tres."},
	))
	if err != nil || n != 2 {
		t.Fatalf("wrote %d, %v", n, err)
	}
	golden(t, "dataset.jsonl", b.Bytes())
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	var row struct {
		Messages []struct{ Role, Content string } `json:"messages"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
		t.Fatal(err)
	}
	roles := []string{}
	for _, m := range row.Messages {
		roles = append(roles, m.Role)
	}
	if !slices.Equal(roles, []string{"system", "user", "assistant"}) || row.Messages[2].Content != "2 + 2 = 4 <ok> & \"gut\"" {
		t.Errorf("row = %+v", row)
	}
	if _, err := WriteChatDataset(&b, "", examples(Example{"q", " "})); err == nil {
		t.Error("an empty response was accepted")
	}
}

func TestHyper(t *testing.T) {
	h, err := HyperFromMap(nil)
	if err != nil || !cmp.Equal(h, DefaultHyper()) {
		t.Fatalf("defaults: %+v, %v", h, err)
	}
	d := DefaultHyper()
	if d.LearningRate != 5e-5 || d.Epochs != 2 || d.MaxLength != 16384 || d.WeightDecay != 0.001 || d.Scheduler != "linear" || d.Method != QLoRA || d.LoRAR != 16 || d.LoRAAlpha != 16 {
		t.Errorf("defaults are not the study's: %+v", d)
	}
	h, err = HyperFromMap(map[string]any{"learning_rate": 1e-4, "method": "full", "unsloth": true})
	if err != nil || h.LearningRate != 1e-4 || h.Method != Full || !h.Unsloth || h.Epochs != 2 {
		t.Errorf("overlay: %+v, %v", h, err)
	}
	bad := []struct {
		m    map[string]any
		want string
	}{
		{map[string]any{"learning_rte": 1e-4}, "unknown field"},
		{map[string]any{"method": "dpo"}, "method \"dpo\""},
		{map[string]any{"learning_rate": 0}, "learning_rate"},
		{map[string]any{"lr_scheduler": "warmup"}, "lr_scheduler"},
		{map[string]any{"epochs": "two"}, "epochs"},
		{map[string]any{"lora_r": 0}, "lora_r"},
	}
	for _, c := range bad {
		if _, err := HyperFromMap(c.m); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("HyperFromMap(%v): error %v, want %q", c.m, err, c.want)
		}
	}
	if _, err := RenderTrain(TrainSpec{BaseModel: "m", Hyper: DefaultHyper()}); err == nil {
		t.Error("RenderTrain without dataset and output dir succeeded")
	}
}

func TestCheckGPU(t *testing.T) {
	bin, _ := filepath.Abs("testdata/bin")
	ctx := context.Background()
	t.Setenv("CUDA_VISIBLE_DEVICES", "0,1")
	gpus, err := CheckGPU(ctx, filepath.Join(bin, "nvidia-smi-ok"))
	if err != nil || len(gpus) != 2 || gpus[1].Name != "NVIDIA A100-SXM4-80GB" {
		t.Errorf("two GPUs: %+v, %v", gpus, err)
	}
	cases := []struct {
		smi, env, want string
	}{
		{"nvidia-smi-nodriver", "0", "couldn't communicate with the NVIDIA driver"},
		{"nvidia-smi-empty", "0", "lists no devices"},
		{"no-such-nvidia-smi", "0", "not found"},
		{"nvidia-smi-ok", "-1", "hides every device"},
		{"nvidia-smi-ok", "", "hides every device"},
	}
	for _, c := range cases {
		t.Setenv("CUDA_VISIBLE_DEVICES", c.env)
		_, err := CheckGPU(ctx, filepath.Join(bin, c.smi))
		if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `use trainer = "cpu"`) {
			t.Errorf("%s with CUDA_VISIBLE_DEVICES=%q: error %v, want ErrNoGPU saying %q", c.smi, c.env, err, c.want)
		}
	}
}

// The lm-eval script runs once per shot count, each run writing its own
// file: Collect must see the tasks of all of them.
func TestCollectMergesRuns(t *testing.T) {
	dir := t.TempDir()
	fixture, err := os.ReadFile("testdata/lm_eval/__scratch__students__de-gemma__merged/results_2026-03-14T10-02-11.512345.json")
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "__scratch__students__de-gemma__merged")
	os.MkdirAll(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "results_2026-03-14T10-02-11.512345.json"), fixture, 0o644)
	later := `{"results":{"m_rewardbench_de":{"alias":"m_rewardbench_de","weighted_acc,none":0.6,"weighted_acc_stderr,none":0.0123}},"n-samples":{"m_rewardbench_de":{"original":1596,"effective":1596}}}`
	os.WriteFile(filepath.Join(sub, "results_2026-03-14T11-00-00.000000.json"), []byte(later), 0o644)
	plan, _ := Resolve(LMEval, "de", StudyBenchmarks)
	got, err := Collect(dir, LMEval, plan)
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.BenchmarkScore{
		{Benchmark: "global_mmlu_lite", Score: 0.4475, StdErr: 0.02468542842493464, N: 400},
		{Benchmark: "m_rewardbench", Score: 0.6, StdErr: 0.0123, N: 1596},
		{Benchmark: "mgsm", Score: 0.184, StdErr: 0.024556050577484186, N: 250},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
