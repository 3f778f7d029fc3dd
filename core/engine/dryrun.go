package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// DryJob is a job a trainer would hand the executor for one unit, rendered
// but not submitted.
type DryJob struct {
	Unit *plan.Unit
	// WorkDir is the unit's work folder in the store, as a run would use
	// it; the job's own folder is a subfolder the trainer picks.
	WorkDir string
	Job     *sdk.Job
	// Note says why a unit has no job (a base or published reference
	// model trains nothing) or what a placeholder stands for.
	Note string
}

// DryRunOptions select the units of DryRunJobs.
type DryRunOptions struct {
	Language string // "" takes the experiment's first language
	Teacher  string // "" takes the first teacher that generates
	Seed     int64  // 0 takes the first seed
	// Scratch is where trainers render into; paths under it are rewritten
	// to the units' work folders in the returned jobs.
	Scratch string
}

// errNotSubmitted is what the capturing host answers RunJob with.
var errNotSubmitted = errors.New("dry run: the job was rendered, not submitted")

// captureHost records the jobs a trainer asks to run and runs none.
type captureHost struct {
	mu   sync.Mutex
	jobs []*sdk.Job
}

func (h *captureHost) Generate(context.Context, string, []*sdk.Call) ([]*sdk.Result, error) {
	return nil, errors.New("dry run: no teacher calls")
}

func (h *captureHost) RunJob(_ context.Context, job *sdk.Job, _ func(string)) (*sdk.JobResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.jobs = append(h.jobs, job)
	return nil, errNotSubmitted
}

func (h *captureHost) take() *sdk.Job {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.jobs) == 0 {
		return nil
	}
	j := h.jobs[len(h.jobs)-1]
	h.jobs = nil
	return j
}

// CheckpointPlaceholder stands for the checkpoint a student's training job
// reports, in the evaluation job of a dry run.
const CheckpointPlaceholder = "STUDENT_CHECKPOINT"

// DryRunJobs asks each student's trainer for the training and evaluation
// jobs of one language, seed and teacher (the base, the reference and one
// student), the way a run would, and returns them unsubmitted. The
// trainers render into opts.Scratch; nothing is written to the store.
func DryRunJobs(ctx context.Context, p *Prepared, opts DryRunOptions) ([]DryJob, error) {
	exp := p.Exp
	if opts.Language == "" {
		opts.Language = exp.Languages[0]
	}
	if opts.Seed == 0 && len(exp.RandomSeeds) > 0 {
		opts.Seed = exp.RandomSeeds[0]
	}
	if opts.Teacher == "" {
		for _, t := range exp.Teachers {
			if t.Generate {
				opts.Teacher = t.Name
				break
			}
		}
	}
	h := &captureHost{}
	p.Plugins.SetHost(h)
	var out []DryJob
	for _, s := range exp.Students {
		comp := p.Bound.Students[s.Name]
		if comp == nil {
			return nil, fmt.Errorf("student %q is not bound", s.Name)
		}
		hyper := map[string]any{}
		for k, v := range s.Hyperparameters {
			hyper[k] = ctyToGo(v)
		}
		var benches []sdk.Benchmark
		for _, b := range exp.Benchmarks {
			for _, l := range b.Languages {
				if l == opts.Language {
					benches = append(benches, sdk.Benchmark{Name: b.Name, Task: b.Task, Shots: b.Shots, Metric: b.Metric})
				}
			}
		}
		base := s.BaseModel // what non-base roles start from, as in runTrain
		for _, role := range []string{"base", "reference", "student"} {
			var train, eval *plan.Unit
			for _, u := range p.Plan.Units {
				if u.Student != s.Name || u.Role != role || u.Language != opts.Language || u.Seed != opts.Seed || (role == "student" && u.Teacher != opts.Teacher) {
					continue
				}
				switch u.Stage {
				case plan.Train:
					train = u
				case plan.Evaluate:
					eval = u
				}
			}
			if train == nil || eval == nil {
				return nil, fmt.Errorf("the plan has no %s units of student %q for language %q, seed %d, teacher %q", role, s.Name, opts.Language, opts.Seed, opts.Teacher)
			}
			workDir := func(u *plan.Unit) string {
				return filepath.Join(exp.Store, "work", string(u.Stage), u.Key[:16])
			}
			scratch := func(u *plan.Unit) (string, error) {
				d := filepath.Join(opts.Scratch, string(u.Stage), u.Key[:16])
				return d, os.MkdirAll(d, 0o755)
			}
			// Training, as runTrain asks for it.
			model := s.BaseModel
			dj := DryJob{Unit: train, WorkDir: workDir(train)}
			switch {
			case role == "reference" && s.Reference != "":
				model = s.Reference
				dj.Note = "a published reference model: nothing to train"
			default:
				dir, err := scratch(train)
				if err != nil {
					return nil, err
				}
				req := &sdk.TrainRequest{Config: sdk.Config{V: comp.Config}, BaseModel: base, Hyperparameters: hyper, WorkDir: dir, Language: opts.Language, Role: role, Key: train.Key}
				if role == "base" {
					req.BaseModel = s.BaseModel
				}
				if role != "base" {
					req.DatasetPath = filepath.Join(dir, map[string]string{"student": "train.jsonl", "reference": "reference.jsonl"}[role])
				}
				res, err := comp.Running.Client.Train(ctx, comp.Name, req, nil)
				dj.Job = h.take()
				switch {
				case dj.Job != nil:
					rebase(dj.Job, dir, dj.WorkDir)
					model = CheckpointPlaceholder
					dj.Note = "the evaluation below reads the checkpoint this job reports as " + CheckpointPlaceholder
				case err != nil && role != "base":
					// No job and no model: the trainer works in its own
					// process (it needs the real data), not through jobs.
					return nil, fmt.Errorf("%s: trainer %q trains in its own process rather than through executor jobs, so there are no commands to show (its answer to the dry run: %v)", train.Label, s.Trainer, p.Plugins.ExplainErr(comp.Running, err))
				case err != nil:
					return nil, fmt.Errorf("%s: %w", train.Label, p.Plugins.ExplainErr(comp.Running, err))
				default:
					model = res.Artifact
					if role == "base" {
						base = res.Artifact
					}
					dj.Note = "the trainer trains nothing for this role; the model is " + res.Artifact
				}
			}
			out = append(out, dj)
			// Evaluation, as runEvaluate asks for it.
			dir, err := scratch(eval)
			if err != nil {
				return nil, err
			}
			_, err = comp.Running.Client.Evaluate(ctx, comp.Name, &sdk.EvalRequest{Config: sdk.Config{V: comp.Config}, Model: model, Benchmarks: benches, Language: opts.Language, WorkDir: dir, Key: eval.Key}, nil)
			ej := DryJob{Unit: eval, WorkDir: workDir(eval), Job: h.take()}
			if ej.Job == nil {
				if err != nil {
					return nil, fmt.Errorf("%s: %w", eval.Label, p.Plugins.ExplainErr(comp.Running, err))
				}
				ej.Note = "the trainer evaluates without a job"
			} else {
				rebase(ej.Job, dir, ej.WorkDir)
			}
			out = append(out, ej)
		}
	}
	return out, nil
}

// rebase rewrites paths under scratch to the unit's work folder in a job's
// folder, arguments, environment and file contents.
func rebase(j *sdk.Job, scratch, work string) {
	r := strings.NewReplacer(scratch, work)
	j.WorkDir = r.Replace(j.WorkDir)
	for i, a := range j.Argv {
		j.Argv[i] = r.Replace(a)
	}
	for k, v := range j.Env {
		j.Env[k] = r.Replace(v)
	}
	for name, b := range j.Files {
		j.Files[name] = []byte(r.Replace(string(b)))
	}
}
