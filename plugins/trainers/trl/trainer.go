package trl

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Trainer is the "trl" trainer component. It renders jobs and hands them to
// the host (sdk.Host.RunJob), which runs them on the experiment's executor;
// it then reads what the jobs wrote.
type Trainer struct{}

var _ sdk.Trainer = Trainer{}

// Describe implements sdk.Trainer.
func (Trainer) Describe() sdk.Description {
	return sdk.Description{
		Name:        "trl",
		Description: "GPU finetuning with Hugging Face TRL 1.9 on transformers 5 (QLoRA/LoRA/full), or Unsloth 2026.8 with TRL 0.24; evaluation with lighteval 0.13 (vLLM) or lm-evaluation-harness 0.4.12, the study's tasks shipped with each job",
		Schema: sdk.Schema(
			sdk.Doc("Settings of the TRL trainer. Hyper-parameters come from the experiment's hyperparameters map (see trl.Hyper)."),
			sdk.Attr("base_model", cty.String).Doc("student base model (hub id or path) when the request names none"),
			sdk.Attr("harness", cty.String).Doc(`evaluation harness: "lighteval" or "lm-eval"`).Default(cty.StringVal(Lighteval)),
			sdk.Attr("custom_tasks", cty.String).Doc("lighteval --custom-tasks file (default: the study's tasks, which the trainer ships with each job); `lighteval vllm` 0.13 has no --load-tasks-multilingual, so lighteval's built-in multilingual tasks must be listed in such a file"),
			sdk.Attr("include_path", cty.String).Doc("lm-eval --include_path folder with extra task YAMLs (default: the study's M-RewardBench task, shipped with each job)"),
			sdk.Attr("gpus", cty.Number).Doc("GPUs per job").Default(cty.NumberIntVal(1)),
			sdk.Attr("time_limit", cty.String).Doc("job time limit, e.g. 12:00:00"),
			sdk.Attr("system_prompt", cty.String).Doc("system message added to every training conversation"),
			sdk.Attr("merge_adapter", cty.Bool).Doc("merge LoRA adapters into the base after training").Default(cty.True),
			sdk.Attr("require_local_gpu", cty.Bool).Doc("check for a CUDA device on this machine before submitting (local executor)").Default(cty.False),
			sdk.Attr("eval_seed", cty.Number).Doc("seed for lm-eval").Default(cty.NumberIntVal(1234)),
		),
	}
}

// ValidateConfig implements sdk.Validator.
func (Trainer) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	var ds sdk.Diagnostics
	if h := cfg.String("harness"); h != "" && h != Lighteval && h != LMEval {
		ds = append(ds, sdk.AttrError("harness", "unknown evaluation harness", "harness is %q; use %q or %q", h, Lighteval, LMEval))
	}
	if cfg.Int("gpus") < 0 {
		ds = append(ds, sdk.AttrError("gpus", "negative GPU count", "set gpus to 1 or more"))
	}
	return ds
}

func absDir(dir, sub string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("trl: the request has no work directory")
	}
	d, err := filepath.Abs(filepath.Join(dir, sub))
	if err != nil {
		return "", fmt.Errorf("trl: %w", err)
	}
	return d, os.MkdirAll(d, 0o755)
}

func runJob(ctx context.Context, host sdk.Host, job *sdk.Job, r sdk.Reporter) error {
	if host == nil {
		return fmt.Errorf("trl: the host offers no executor to run %s", job.Name)
	}
	res, err := host.RunJob(ctx, job, func(line string) { r.Log("info", line) })
	if err != nil {
		return fmt.Errorf("trl: %s: %w", job.Name, err)
	}
	if res.ExitCode != 0 || (res.State != "" && res.State != "COMPLETED") {
		return fmt.Errorf("trl: %s ended %s (exit code %d): %s; its log is in %s/logs", job.Name, res.State, res.ExitCode, res.Error, job.WorkDir)
	}
	return nil
}

// Train implements sdk.Trainer. Role "base" trains nothing: the base is the
// pretrained model itself. Other roles finetune on DatasetPath, which is
// already chat-format JSONL.
func (Trainer) Train(ctx context.Context, req *sdk.TrainRequest, r sdk.Reporter) (*sdk.TrainResult, error) {
	base := req.BaseModel
	if base == "" {
		base = req.Config.String("base_model")
	}
	if base == "" {
		return nil, fmt.Errorf("trl: no base model: set config base_model or the student's base model")
	}
	if req.Role == "base" {
		return &sdk.TrainResult{Artifact: base}, nil
	}
	if req.DatasetPath == "" {
		return nil, fmt.Errorf("trl: a %s needs a dataset; the train request has no dataset path", req.Role)
	}
	h, err := HyperFromMap(req.Hyperparameters)
	if err != nil {
		return nil, err
	}
	if req.Config.Bool("require_local_gpu") {
		if _, err := CheckGPU(ctx, ""); err != nil {
			return nil, err
		}
	}
	dir, err := absDir(req.WorkDir, "train")
	if err != nil {
		return nil, err
	}
	dataset, err := filepath.Abs(req.DatasetPath)
	if err != nil {
		return nil, fmt.Errorf("trl: %w", err)
	}
	out := filepath.Join(dir, "model")
	job, err := RenderTrain(TrainSpec{
		BaseModel: base, Dataset: dataset, OutputDir: out, Hyper: h,
		GPUs: req.Config.Int("gpus"), MergeAdapter: req.Config.Bool("merge_adapter"), TimeLimit: req.Config.String("time_limit"),
	})
	if err != nil {
		return nil, err
	}
	job.Key, job.WorkDir = req.Key, dir
	r.Progress(sdk.Progress{Stage: "train", Message: fmt.Sprintf("%s finetuning of %s on %s", h.Method, base, req.DatasetPath)})
	if err := runJob(ctx, req.Host, job, r); err != nil {
		return nil, err
	}
	var summary struct {
		ModelDir     string  `json:"model_dir"`
		Examples     float64 `json:"examples"`
		TrainLoss    float64 `json:"train_loss"`
		TrainSeconds float64 `json:"train_seconds"`
	}
	sp := filepath.Join(out, TrainSummary)
	raw, err := os.ReadFile(sp)
	if err != nil {
		return nil, fmt.Errorf("trl: the training job succeeded but left no %s: %w", TrainSummary, err)
	}
	if err := json.Unmarshal(raw, &summary); err != nil || summary.ModelDir == "" {
		return nil, fmt.Errorf("trl: %s is malformed (%v): want model_dir, examples, train_loss, train_seconds", sp, err)
	}
	return &sdk.TrainResult{Artifact: summary.ModelDir, Metrics: map[string]float64{
		"examples": summary.Examples, "train_loss": summary.TrainLoss, "train_seconds": summary.TrainSeconds,
	}}, nil
}

// Evaluate implements sdk.Trainer. With no benchmarks it runs the study's.
func (Trainer) Evaluate(ctx context.Context, req *sdk.EvalRequest, r sdk.Reporter) (*sdk.EvalResult, error) {
	harness := req.Config.String("harness")
	if harness == "" {
		harness = Lighteval
	}
	bs := req.Benchmarks
	if len(bs) == 0 {
		bs = StudyBenchmarks
	}
	plan, err := Resolve(harness, req.Language, bs)
	if err != nil {
		return nil, err
	}
	dir, err := absDir(req.WorkDir, "eval-"+harness)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "results")
	job, err := RenderEval(EvalSpec{
		Harness: harness, Model: req.Model, Language: req.Language, Plan: plan, OutputDir: out,
		CustomTasks: req.Config.String("custom_tasks"), IncludePath: req.Config.String("include_path"),
		Seed: req.Config.Int("eval_seed"), GPUs: req.Config.Int("gpus"), TimeLimit: req.Config.String("time_limit"),
	})
	if err != nil {
		return nil, err
	}
	job.Key, job.WorkDir = req.Key, dir
	r.Progress(sdk.Progress{Stage: "evaluate", Message: fmt.Sprintf("%s on %d benchmarks", harness, len(plan))})
	if err := runJob(ctx, req.Host, job, r); err != nil {
		return nil, err
	}
	scores, err := Collect(out, harness, plan)
	if err != nil {
		return nil, err
	}
	return &sdk.EvalResult{Scores: scores}, nil
}
