package cpu

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/plugins/internal/kn"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// Trainer is the "cpu" trainer component. Models are kn files in the
// request's work directory; the artifact a Train call returns is that file's
// path, which later Train calls take as BaseModel and Evaluate as Model.
//
// Benchmarks name their data in Task: a path (with "{lang}" replaced by the
// request's language, relative paths resolved against config data_dir) to a
// .jsonl multiple-choice file or to a text file of held-out documents.
type Trainer struct{}

var _ sdk.Trainer = Trainer{}

// Describe implements sdk.Trainer.
func (Trainer) Describe() sdk.Description {
	return sdk.Description{
		Name:        "cpu",
		Description: "embedded character-level Kneser-Ney student; pure Go, no GPU",
		Schema: sdk.Schema(
			sdk.Doc("Settings of the embedded CPU student."),
			sdk.Attr("base_corpus", cty.String).Doc("generic text corpus the base model is trained on (one document per line, or JSONL); {lang} is replaced by the language"),
			sdk.Attr("data_dir", cty.String).Doc("directory that relative benchmark task paths are resolved against"),
			sdk.Attr("order", cty.Number).Doc("n-gram order (1 to 8)").Default(cty.NumberIntVal(kn.DefaultOrder)),
			sdk.Attr("discount", cty.Number).Doc("0 for modified Kneser-Ney, or a fixed discount in (0, 1]").Default(cty.NumberIntVal(0)),
			sdk.Attr("epochs", cty.Number).Doc("times each training example is counted").Default(cty.NumberIntVal(1)),
			sdk.Attr("max_examples", cty.Number).Doc("stop after this many examples (0: all)").Default(cty.NumberIntVal(0)),
		),
	}
}

// ValidateConfig implements sdk.Validator.
func (Trainer) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	var ds sdk.Diagnostics
	if o := cfg.Int("order"); cfg.Has("order") && (o < 1 || o > kn.MaxOrder) {
		ds = append(ds, sdk.AttrError("order", "order out of range", "order is %d; use a value from 1 to %d (5 is the default)", o, kn.MaxOrder))
	}
	if d := cfg.Float("discount"); d < 0 || d > 1 {
		ds = append(ds, sdk.AttrError("discount", "discount out of range", "discount is %g; use 0 for modified Kneser-Ney or a value in (0, 1]", d))
	}
	for _, a := range []string{"epochs", "max_examples"} {
		if cfg.Int(a) < 0 {
			ds = append(ds, sdk.AttrError(a, a+" is negative", "set %s to 0 or more", a))
		}
	}
	if p := cfg.String("base_corpus"); p != "" && !strings.Contains(p, "{lang}") {
		if _, err := os.Stat(p); err != nil {
			ds = append(ds, sdk.AttrError("base_corpus", "base corpus not found", "%v; give the path of a text file", err))
		}
	}
	return ds
}

// hyper merges config and per-call hyper-parameters (the latter win).
func hyper(cfg sdk.Config, hp map[string]any) (Hyper, error) {
	h := Hyper{Order: cfg.Int("order"), Discount: cfg.Float("discount"), Epochs: cfg.Int("epochs"), MaxExamples: cfg.Int("max_examples")}
	ints := map[string]*int{"order": &h.Order, "epochs": &h.Epochs, "max_examples": &h.MaxExamples}
	for name, v := range hp {
		f, ok := v.(float64)
		if !ok {
			if iv, isInt := v.(int); isInt {
				f, ok = float64(iv), true
			}
		}
		if p, known := ints[name]; known {
			if !ok || f != math.Trunc(f) {
				return h, fmt.Errorf("cpu: hyper-parameter %s = %v must be a whole number", name, v)
			}
			*p = int(f)
		} else if name == "discount" {
			if !ok {
				return h, fmt.Errorf("cpu: hyper-parameter discount = %v must be a number", v)
			}
			h.Discount = f
		}
		// Other hyper-parameters (learning rate, LoRA rank…) are for GPU
		// trainers and mean nothing to an n-gram model.
	}
	return h, h.check()
}

// bases are the base models this process loaded last: every student of a
// language continues the same base, and loading it again for each (decoding
// and rebuilding every order's counts) was a third of a student's training.
// Two are kept, since two units may train at once and the next language's
// students can start before the last one's are done; each only while its
// file is unchanged.
var bases struct {
	mu   sync.Mutex
	last [2]loadedBase // most recently used first
}

type loadedBase struct {
	path string
	size int64
	mod  time.Time
	m    *kn.Model
}

// loadBase loads a base model, or returns the one loaded before from the same
// unchanged file. Callers must not modify it (Train clones it).
func loadBase(path string) (*kn.Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cpu: base model: %w", err)
	}
	bases.mu.Lock()
	defer bases.mu.Unlock()
	for i, b := range bases.last {
		if b.m != nil && b.path == path && b.size == st.Size() && b.mod.Equal(st.ModTime()) {
			bases.last[0], bases.last[i] = b, bases.last[0]
			return b.m, nil
		}
	}
	m, err := kn.Load(path)
	if err != nil {
		return nil, err
	}
	bases.last[1], bases.last[0] = bases.last[0], loadedBase{path, st.Size(), st.ModTime(), m}
	return m, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func artifactPath(req *sdk.TrainRequest) string {
	name := req.Key
	if name == "" {
		name = req.Role
	}
	if name == "" {
		name = "model"
	}
	return filepath.Join(req.WorkDir, unsafeName.ReplaceAllString(name, "_")+".kn")
}

// Train implements sdk.Trainer: Role "base" builds from config base_corpus;
// "student" and "reference" continue BaseModel (or the base corpus, or an
// empty model) on DatasetPath.
func (Trainer) Train(ctx context.Context, req *sdk.TrainRequest, r sdk.Reporter) (*sdk.TrainResult, error) {
	h, err := hyper(req.Config, req.Hyperparameters)
	if err != nil {
		return nil, err
	}
	if req.WorkDir == "" {
		return nil, fmt.Errorf("cpu: the train request has no work directory")
	}
	if err := os.MkdirAll(req.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	// {lang} lets one student block use a base corpus per language.
	corpus := strings.ReplaceAll(req.Config.String("base_corpus"), "{lang}", req.Language)
	var (
		m  *kn.Model
		st Stats
	)
	switch req.Role {
	case "base":
		if corpus == "" {
			return nil, fmt.Errorf("cpu: building the base model needs config base_corpus: the path of a generic text corpus")
		}
		r.Progress(sdk.Progress{Stage: "train", Message: "building base model from " + corpus})
		if m, st, err = Build(ctx, corpus, h); err != nil {
			return nil, err
		}
	case "student", "reference", "":
		if req.DatasetPath == "" {
			return nil, fmt.Errorf("cpu: a %s needs a dataset; the train request has no dataset path", req.Role)
		}
		var base *kn.Model
		switch {
		case req.BaseModel != "":
			if base, err = loadBase(req.BaseModel); err != nil {
				return nil, fmt.Errorf("cpu: base model: %w", err)
			}
		case corpus != "":
			if base, _, err = Build(ctx, corpus, h); err != nil {
				return nil, err
			}
		default:
			r.Log("warn", "cpu: no base model and no base_corpus: the student starts from an empty model")
		}
		r.Progress(sdk.Progress{Stage: "train", Message: "training on " + req.DatasetPath})
		if m, st, err = Train(ctx, base, ReadExamples(req.DatasetPath), h); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("cpu: unknown role %q: use base, student or reference", req.Role)
	}
	out := artifactPath(req)
	if err := m.Save(out); err != nil {
		return nil, err
	}
	r.Progress(sdk.Progress{Done: 1, Total: 1, Stage: "train", Message: fmt.Sprintf("%d examples, %d characters in %v", st.Examples, st.Chars, st.Duration)})
	return &sdk.TrainResult{Artifact: out, Metrics: map[string]float64{
		"examples":      float64(st.Examples),
		"chars":         float64(st.Chars),
		"train_seconds": st.Duration.Seconds(),
		"model_chars":   float64(m.Chars()),
	}}, nil
}

// Evaluate implements sdk.Trainer.
func (Trainer) Evaluate(ctx context.Context, req *sdk.EvalRequest, r sdk.Reporter) (*sdk.EvalResult, error) {
	if len(req.Benchmarks) == 0 {
		return nil, fmt.Errorf("cpu: no benchmarks to evaluate: give each a task path to held-out text (.txt) or multiple-choice items (.jsonl)")
	}
	m, err := kn.Load(req.Model)
	if err != nil {
		return nil, fmt.Errorf("cpu: model to evaluate: %w", err)
	}
	dataDir := req.Config.String("data_dir")
	res := &sdk.EvalResult{}
	for i, b := range req.Benchmarks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := strings.ReplaceAll(b.Task, "{lang}", req.Language)
		if path == "" {
			return nil, fmt.Errorf("cpu: benchmark %q has no task: give the path of its data file", b.Name)
		}
		if !filepath.IsAbs(path) && dataDir != "" {
			path = filepath.Join(dataDir, path)
		}
		var out Result
		if isJSONL(path) {
			items, err := ReadMC(path)
			if err != nil {
				return nil, fmt.Errorf("cpu: benchmark %q: %w", b.Name, err)
			}
			out = MultipleChoice(m, items)
		} else {
			docs, err := ReadDocs(path)
			if err != nil {
				return nil, fmt.Errorf("cpu: benchmark %q: %w", b.Name, err)
			}
			if len(docs) == 0 {
				return nil, fmt.Errorf("cpu: benchmark %q: %s has no documents", b.Name, path)
			}
			out = HeldOut(m, docs)
		}
		name := b.Name
		if name == "" {
			name = out.Benchmark
		}
		res.Scores = append(res.Scores, sdk.BenchmarkScore{Benchmark: name, Score: out.Score, StdErr: out.Stderr, N: int64(out.N)})
		r.Progress(sdk.Progress{Done: float64(i + 1), Total: float64(len(req.Benchmarks)), Stage: "evaluate", Message: name})
	}
	return res, nil
}
