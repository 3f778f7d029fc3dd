package command_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestJobsPrintsTheStudysCommands runs `polyglot jobs` on examples/paper:
// the real trl trainer renders, over its plugin protocol, the jobs a run
// would submit, and nothing is submitted or stored.
func TestJobsPrintsTheStudysCommands(t *testing.T) {
	for k, v := range fakeKeys {
		t.Setenv(k, v)
	}
	dir := filepath.Join(repoRoot, "examples", "paper")
	_, err := os.Stat(filepath.Join(dir, ".polyglot"))
	hadStore := err == nil
	out := t.TempDir()
	r := polyglot(t, dir, "jobs", ".", "--language", "de", "--teacher", "gemma3_27b", "--write", out)
	if r.code != 0 {
		t.Fatalf("jobs exited %d:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"### train olmo3_7b base/de seed 1\nno job:",
		"### train olmo3_7b reference/de seed 1\nno job: a published reference model",
		"### train olmo3_7b on gemma3_27b/de seed 1\n",
		"executor: slurm (partition gpu, 1 GPU, time 24:00:00)",
		"python train.py train_config.json",
		`"optimizer": "adamw_8bit"`,
		`"warmup_steps": 5`,
		`"seed": 3407`,
		"model_name=allenai/Olmo-3-1025-7B,dtype=bfloat16,max_model_length=8192",
		"model_name=allenai/Olmo-3-7B-Instruct-SFT,",
		"model_name=STUDENT_CHECKPOINT,",
		"'global_mmlu_lite_de|0,m_rewardbench_de|0,mgsm_num_de|5'",
		"--custom-tasks polyglot_lighteval_tasks.py",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if n := strings.Count(r.stdout, "lighteval vllm"); n != 3 {
		t.Errorf("%d lighteval runs, want 3 (base, reference, student)", n)
	}
	// Paths are the units' work folders in the store, not a scratch folder.
	store := filepath.Join(dir, ".polyglot", "work")
	folders := regexp.MustCompile(`(?m)^folder:   (.*)$`).FindAllStringSubmatch(r.stdout, -1)
	if len(folders) != 4 {
		t.Fatalf("%d jobs with a folder, want 4", len(folders))
	}
	for _, f := range folders {
		if !strings.HasPrefix(f[1], store) {
			t.Errorf("job folder %s is not in the store's work folder %s", f[1], store)
		}
	}
	if strings.Contains(r.stdout, os.TempDir()+"/polyglot-jobs-") {
		t.Error("a scratch path leaked into the output")
	}
	if _, err := os.Stat(filepath.Join(dir, ".polyglot")); err == nil && !hadStore {
		t.Error("jobs created a store; it must not write there")
	}
	// --write saved every file, the config with the store's paths.
	cfg, err := os.ReadFile(filepath.Join(out, "train-olmo3_7b-gemma3_27b", "train_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Dataset   string `json:"dataset"`
		OutputDir string `json:"output_dir"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil || !strings.HasPrefix(c.Dataset, store) || !strings.HasPrefix(c.OutputDir, store) {
		t.Errorf("written config: %v, dataset %q, output %q", err, c.Dataset, c.OutputDir)
	}
	for _, f := range []string{"train-olmo3_7b-gemma3_27b/train.py", "evaluate-olmo3_7b-gemma3_27b/eval.sh", "evaluate-olmo3_7b-gemma3_27b/polyglot_lighteval_tasks.py"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("--write: %v", err)
		}
	}

	// lm-eval through the example's harness variable, and usage errors.
	r = polyglot(t, dir, "jobs", ".", "-var", "harness=lm-eval", "--language", "ja")
	if r.code != 0 || strings.Count(r.stdout, "lm_eval run") != 6 || !strings.Contains(r.stdout, "--include_path polyglot_lm_eval_tasks") || !strings.Contains(r.stdout, "--tasks global_mmlu_ja,m_rewardbench_ja") {
		t.Errorf("lm-eval jobs (exit %d):\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A trainer that works in its own process has no commands to show.
	r = polyglot(t, filepath.Join(repoRoot, "examples", "quickstart"), "jobs", ".")
	if r.code != 1 || !strings.Contains(r.stderr, `trainer "cpu" trains in its own process`) {
		t.Errorf("jobs on the cpu trainer: exit %d, want 1 saying it trains in its own process:\n%s", r.code, r.stderr)
	}
	for _, bad := range [][]string{{"--language", "fr"}, {"--teacher", "m_prometheus"}, {"--seed", "9"}} {
		if r := polyglot(t, dir, append([]string{"jobs", "."}, bad...)...); r.code != 2 {
			t.Errorf("jobs %v: exit %d, want 2 (usage)\n%s", bad, r.code, r.stderr)
		}
	}
}
