package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/pluginhost"
	"github.com/polyglot-teachers/polyglot/core/seeds"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/sdk"
)

type logReporter struct {
	r    *Runner
	unit string
}

func (l logReporter) Progress(p sdk.Progress) {
	l.r.log.Debug().Str("unit", l.unit).Float64("done", p.Done).Float64("total", p.Total).Str("stage", p.Stage).Msg(p.Message)
}

func (l logReporter) Log(level, msg string) {
	l.r.log.Debug().Str("unit", l.unit).Str("level", level).Msg(msg)
}

// chatLine is one training conversation in the chat JSONL trainers read.
type chatLine struct {
	Messages []sdk.Message `json:"messages"`
}

func (r *Runner) writeChat(path string, fill func(emit func(prompt, response string) error) error) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	n := 0
	err = fill(func(p, resp string) error {
		n++
		return enc.Encode(chatLine{Messages: []sdk.Message{{Role: "user", Content: p}, {Role: "assistant", Content: resp}}})
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func (r *Runner) trainingOf(unitKey string) (store.Training, bool, error) {
	ts, err := r.Store.Trainings()
	if err != nil {
		return store.Training{}, false, err
	}
	for _, t := range ts {
		if t.Unit == unitKey && t.Status == "done" {
			return t, true, nil
		}
	}
	return store.Training{}, false, nil
}

func ctyToGo(v cty.Value) any {
	switch {
	case v.IsNull() || !v.IsKnown():
		return nil
	case v.Type() == cty.String:
		return v.AsString()
	case v.Type() == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		if v.AsBigFloat().IsInt() {
			i, _ := v.AsBigFloat().Int(new(big.Int))
			return float64(i.Int64())
		}
		return f
	case v.Type() == cty.Bool:
		return v.True()
	case v.CanIterateElements():
		if v.Type().IsObjectType() || v.Type().IsMapType() {
			m := map[string]any{}
			for it := v.ElementIterator(); it.Next(); {
				k, e := it.Element()
				m[k.AsString()] = ctyToGo(e)
			}
			return m
		}
		var l []any
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			l = append(l, ctyToGo(e))
		}
		return l
	}
	return nil
}

func (r *Runner) runTrain(ctx context.Context, u *plan.Unit) (any, error) {
	s := r.P.Exp.Student(u.Student)
	comp := r.P.Bound.Students[u.Student]
	if s == nil || comp == nil {
		return nil, fmt.Errorf("student %q is not bound", u.Student)
	}
	dir, err := r.WorkDir(u)
	if err != nil {
		return nil, err
	}
	req := &sdk.TrainRequest{Config: sdk.Config{V: comp.Config}, BaseModel: s.BaseModel, Hyperparameters: map[string]any{}, WorkDir: dir, Language: u.Language, Role: u.Role, Key: u.Key}
	for k, v := range s.Hyperparameters {
		req.Hyperparameters[k] = ctyToGo(v)
	}
	if u.Role != "base" {
		// Students and references continue the base this run built.
		for _, d := range u.Deps {
			if dep := r.P.Plan.Unit(d); dep != nil && dep.Stage == plan.Train && dep.Role == "base" {
				t, ok, err := r.trainingOf(d)
				if err != nil {
					return nil, err
				}
				if ok && t.Checkpoint != "" {
					req.BaseModel = t.Checkpoint
				}
			}
		}
	}
	var n int
	switch u.Role {
	case "reference":
		if s.Reference != "" {
			// A published reference model (the study's Instruct SFT): nothing to train.
			return r.recordTraining(u, s.Reference, map[string]any{"reference": s.Reference})
		}
		// Otherwise the reference is the base trained on held-in human data:
		// the language's rows, found in the run's seed index (reading and
		// decoding every seed file for each language's reference was the
		// host's largest part of the train stage).
		req.DatasetPath = filepath.Join(dir, "reference.jsonl")
		src, serr := r.seeds()
		if serr != nil {
			return nil, serr
		}
		n, err = r.writeChat(req.DatasetPath, func(emit func(string, string) error) error {
			return src.ix.Each(func(c *seeds.Class) bool { return c.Language == u.Language }, func(row seeds.Row) error {
				if row.Language != u.Language || row.Response == "" {
					return nil
				}
				return emit(row.Prompt, row.Response)
			})
		})
	case "student":
		req.DatasetPath = filepath.Join(dir, "train.jsonl")
		n, err = r.writeChat(req.DatasetPath, func(emit func(string, string) error) error {
			for _, d := range u.Deps {
				if dep := r.P.Plan.Unit(d); dep == nil || dep.Stage != plan.Generate {
					continue
				}
				if err := r.Store.Examples(store.Filter{Unit: d}, func(e *store.Example) error { return emit(e.Prompt, e.Response) }); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	if u.Role != "base" && n == 0 {
		return nil, fmt.Errorf("no training data for %s (%s, %s)", u.Label, u.Role, u.Language)
	}
	var res *sdk.TrainResult
	err = r.withPlugin(ctx, comp, u.Label, func(run *pluginhost.Running) (err error) {
		res, err = run.Client.Train(ctx, comp.Name, req, logReporter{r, u.Label})
		return err
	})
	if err != nil {
		return nil, err
	}
	r.Opts.Progress.Advance(plan.Train, 1, 0)
	return r.recordTraining(u, res.Artifact, map[string]any{"examples": n, "metrics": res.Metrics})
}

func (r *Runner) recordTraining(u *plan.Unit, artifact string, detail map[string]any) (any, error) {
	blob, _ := json.Marshal(detail)
	if err := r.Store.PutTraining(store.Training{Unit: u.Key, Student: u.Student, Teacher: u.Teacher, Language: u.Language, Seed: int(u.Seed), Status: "done", Checkpoint: artifact, Detail: blob}); err != nil {
		return nil, &fatalError{err}
	}
	detail["artifact"] = artifact
	return detail, nil
}

func (r *Runner) runEvaluate(ctx context.Context, u *plan.Unit) (any, error) {
	s := r.P.Exp.Student(u.Student)
	comp := r.P.Bound.Students[u.Student]
	if s == nil || comp == nil {
		return nil, fmt.Errorf("student %q is not bound", u.Student)
	}
	t, ok, err := r.trainingOf(u.Deps[0])
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: the model it evaluates was not trained", u.Label)
	}
	var benches []sdk.Benchmark
	for _, b := range r.P.Exp.Benchmarks {
		for _, l := range b.Languages {
			if l == u.Language {
				benches = append(benches, sdk.Benchmark{Name: b.Name, Task: b.Task, Shots: b.Shots, Metric: b.Metric})
			}
		}
	}
	if len(benches) == 0 {
		return nil, fmt.Errorf("no benchmark covers language %q; add it to a benchmark block's languages", u.Language)
	}
	dir, err := r.WorkDir(u)
	if err != nil {
		return nil, err
	}
	var res *sdk.EvalResult
	err = r.withPlugin(ctx, comp, u.Label, func(run *pluginhost.Running) (err error) {
		res, err = run.Client.Evaluate(ctx, comp.Name, &sdk.EvalRequest{Config: sdk.Config{V: comp.Config}, Model: t.Checkpoint, Benchmarks: benches, Language: u.Language, WorkDir: dir, Key: u.Key}, logReporter{r, u.Label})
		return err
	})
	if err != nil {
		return nil, err
	}
	var evs []store.Eval
	for _, sc := range res.Scores {
		evs = append(evs, store.Eval{Role: u.Role, Student: u.Student, StudentFamily: s.Family, Teacher: u.Teacher, Language: u.Language, Seed: int(u.Seed), Benchmark: sc.Benchmark, Score: sc.Score, Stderr: sc.StdErr})
	}
	if err := r.Store.PutEval(evs...); err != nil {
		return nil, &fatalError{err}
	}
	r.Opts.Progress.Advance(plan.Evaluate, 1, 0)
	return res.Scores, nil
}
