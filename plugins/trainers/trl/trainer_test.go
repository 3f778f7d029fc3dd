package trl

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

// localHost runs jobs as real processes the way a local executor does:
// files written into the job folder, argv run there, with the fake GPU-node
// tools of testdata/fakebin first on PATH.
type localHost struct {
	t    *testing.T
	env  []string
	jobs []*sdk.Job
}

func (h *localHost) Generate(context.Context, string, []*sdk.Call) ([]*sdk.Result, error) {
	return nil, nil
}

func (h *localHost) RunJob(ctx context.Context, job *sdk.Job, onLog func(string)) (*sdk.JobResult, error) {
	h.jobs = append(h.jobs, job)
	for name, data := range job.Files {
		p := filepath.Join(job.WorkDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, job.Argv[0], job.Argv[1:]...)
	// Resolve the program on the job's PATH, as a node's shell would.
	for _, e := range h.env {
		if dirs, ok := strings.CutPrefix(e, "PATH="); ok {
			cmd.Path, cmd.Err = "", nil
			for _, d := range filepath.SplitList(dirs) {
				if p := filepath.Join(d, job.Argv[0]); fileExists(p) {
					cmd.Path = p
					break
				}
			}
			if cmd.Path == "" {
				cmd.Err = exec.ErrNotFound
			}
		}
	}
	cmd.Dir = job.WorkDir
	cmd.Env = append(os.Environ(), h.env...)
	for k, v := range job.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		onLog(l)
	}
	res := &sdk.JobResult{State: "COMPLETED", WorkDir: job.WorkDir}
	if err != nil {
		res.State, res.ExitCode, res.Error = "FAILED", cmd.ProcessState.ExitCode(), err.Error()
	}
	return res, nil
}

func fileExists(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }

type nopReporter struct{ t *testing.T }

func (n nopReporter) Progress(p sdk.Progress) { n.t.Logf("%s: %s", p.Stage, p.Message) }
func (n nopReporter) Log(level, msg string)   { n.t.Logf("%s: %s", level, msg) }

func TestTrainerRunsJobsThroughHost(t *testing.T) {
	fake, _ := filepath.Abs("testdata/fakebin")
	fixture, _ := filepath.Abs("testdata/lm_eval/__scratch__students__de-gemma__merged/results_2026-03-14T10-02-11.512345.json")
	host := &localHost{t: t, env: []string{"PATH=" + fake + ":" + os.Getenv("PATH"), "FIXTURE=" + fixture}}
	cfg := sdk.Config{V: sdktest.Config(t, Trainer{}.Describe().Schema, map[string]cty.Value{
		"base_model": cty.StringVal("allenai/Olmo-3-1025-7B"),
		"harness":    cty.StringVal(LMEval),
	})}
	work := t.TempDir()
	data := filepath.Join(work, "cell.jsonl")
	os.WriteFile(data, []byte(`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}`+"\n"+`{"messages":[{"role":"user","content":"c"},{"role":"assistant","content":"d"}]}`+"\n"), 0o644)
	ctx := context.Background()

	tr, err := Trainer{}.Train(ctx, &sdk.TrainRequest{Config: cfg, Role: "student", DatasetPath: data, WorkDir: work, Key: "k1", Host: host,
		Hyperparameters: map[string]any{"epochs": 1}}, nopReporter{t})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(work, "train", "model", "merged"); tr.Artifact != want || tr.Metrics["examples"] != 2 || tr.Metrics["train_loss"] != 1.234 {
		t.Errorf("train result %+v, want artifact %s and 2 examples", tr, want)
	}
	cfgFile, _ := os.ReadFile(filepath.Join(work, "train", TrainConfig))
	if !strings.Contains(string(cfgFile), `"epochs": 1,`) {
		t.Errorf("hyper-parameter override not in the rendered config:\n%s", cfgFile)
	}

	er, err := Trainer{}.Evaluate(ctx, &sdk.EvalRequest{Config: cfg, Model: tr.Artifact, Language: "de", WorkDir: work, Host: host,
		Benchmarks: []sdk.Benchmark{{Name: "global_mmlu_lite"}, {Name: "mgsm"}}}, nopReporter{t})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range er.Scores {
		got[s.Benchmark] = s.Score
	}
	if got["global_mmlu_lite"] != 0.4475 || got["mgsm"] != 0.184 {
		t.Errorf("scores %+v", er.Scores)
	}
	files, _ := filepath.Glob(filepath.Join(work, "eval-lm-eval", "results", "model", "results_*.json"))
	sort.Strings(files)
	if len(files) != 2 {
		t.Errorf("lm_eval ran %d times, want 2 (one per shot count): %v", len(files), files)
	}

	base, err := Trainer{}.Train(ctx, &sdk.TrainRequest{Config: cfg, Role: "base", WorkDir: work}, nopReporter{t})
	if err != nil || base.Artifact != "allenai/Olmo-3-1025-7B" {
		t.Errorf("base: %+v, %v", base, err)
	}
}

func TestTrainerReportsFailedJobs(t *testing.T) {
	host := &localHost{t: t, env: []string{"PATH=/nonexistent"}}
	cfg := sdk.Config{V: sdktest.Config(t, Trainer{}.Describe().Schema, map[string]cty.Value{"base_model": cty.StringVal("m")})}
	work := t.TempDir()
	data := filepath.Join(work, "d.jsonl")
	os.WriteFile(data, []byte("{}\n"), 0o644)
	_, err := Trainer{}.Train(context.Background(), &sdk.TrainRequest{Config: cfg, Role: "student", DatasetPath: data, WorkDir: work, Host: host}, nopReporter{t})
	if err == nil {
		t.Fatal("a training job that cannot start was reported as a success")
	}
	_, err = Trainer{}.Train(context.Background(), &sdk.TrainRequest{Config: cfg, Role: "student", DatasetPath: data, WorkDir: work, Hyperparameters: map[string]any{"lr": 1}}, nopReporter{t})
	if err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("bad hyper-parameter: %v", err)
	}
	bad := sdk.Config{V: sdktest.Config(t, Trainer{}.Describe().Schema, map[string]cty.Value{"harness": cty.StringVal("helm")})}
	if ds := (Trainer{}).ValidateConfig(context.Background(), bad); len(ds) != 1 {
		t.Errorf("ValidateConfig: %v", ds)
	}
}
