// Package plan expands a validated experiment into units of work and gives
// each unit a key: the SHA-256 of everything that determines its output (the
// relevant spec fragment with variables resolved and secrets redacted, the
// plugin's name and version, the template and seed files' contents, the keys
// of the units it consumes, the random seed). A unit whose key is already
// finished in the store is never run again; changing one teacher's
// temperature changes that teacher's generate keys, and through the
// dependency keys exactly what is downstream of them.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/polyglot-teachers/polyglot/core/bind"
	"github.com/polyglot-teachers/polyglot/core/spec"
)

// Stage is a step of the pipeline.
type Stage string

const (
	Generate Stage = "generate"
	Metrics  Stage = "metrics"
	Train    Stage = "train"
	Evaluate Stage = "evaluate"
	Score    Stage = "score"
)

// Stages in pipeline order.
var Stages = []Stage{Generate, Metrics, Train, Evaluate, Score}

// Unit is one piece of work.
type Unit struct {
	Key      string   `json:"key"`
	Stage    Stage    `json:"stage"`
	Label    string   `json:"label"`
	Teacher  string   `json:"teacher,omitempty"`
	Language string   `json:"language,omitempty"`
	Strategy string   `json:"strategy,omitempty"`
	Metric   string   `json:"metric,omitempty"`
	Student  string   `json:"student,omitempty"`
	Role     string   `json:"role,omitempty"` // train/evaluate: student, base, reference
	Seed     int64    `json:"seed"`
	N        int      `json:"n"` // generate: examples requested
	Deps     []string `json:"deps,omitempty"`
	Control  bool     `json:"control,omitempty"`
	// Requests the unit sends to teachers: generate, one per example;
	// metrics, the calls a judge sends for the cell's sample (JudgeTeacher
	// answers them).
	Requests     int    `json:"requests"`
	JudgeTeacher string `json:"judge_teacher,omitempty"`

	EstInputTokens  int64   `json:"est_input_tokens"`
	EstOutputTokens int64   `json:"est_output_tokens"`
	EstCostUSD      float64 `json:"est_cost_usd"`
}

// Field is the unit's value of an --only key (teacher, language, strategy,
// metric, student or stage); "" when the unit has none.
func (u *Unit) Field(key string) string {
	switch key {
	case "teacher":
		return u.Teacher
	case "language":
		return u.Language
	case "strategy":
		return u.Strategy
	case "metric":
		return u.Metric
	case "student":
		return u.Student
	case "stage":
		return string(u.Stage)
	}
	return ""
}

// Plan is the expanded experiment.
type Plan struct {
	Units []*Unit
	byKey map[string]*Unit
}

// Unit finds a unit by key.
func (p *Plan) Unit(key string) *Unit { return p.byKey[key] }

// Of returns the units of one stage, in plan order.
func (p *Plan) Of(s Stage) []*Unit {
	var out []*Unit
	for _, u := range p.Units {
		if u.Stage == s {
			out = append(out, u)
		}
	}
	return out
}

// TeacherRef is what the plan needs of a teacher (spec teachers and
// negative controls alike).
type TeacherRef struct {
	Name    string
	Control bool
	Spec    *spec.Teacher // nil for controls
	Bound   *bind.Component
	// Extra is hashed into the teacher's fragment (controls: kind, seeds).
	Extra map[string]any
	// Helper teachers (generate = false) serve other blocks only: they
	// are hashed where used but get no cells.
	Helper bool
}

// Build expands exp. teachers lists the teachers in order (controls after
// spec teachers); bound gives metric and student components.
func Build(exp *spec.Experiment, teachers []TeacherRef, bound *bind.Bound) (*Plan, error) {
	b := &builder{exp: exp, bound: bound, p: &Plan{byKey: map[string]*Unit{}}, fileHashes: map[string]string{}, teachers: map[string]TeacherRef{}}
	for _, t := range teachers {
		b.teachers[t.Name] = t
	}
	var cells []TeacherRef
	for _, t := range teachers {
		if !t.Helper {
			cells = append(cells, t)
		}
	}
	if err := b.build(cells); err != nil {
		return nil, err
	}
	return b.p, nil
}

type builder struct {
	exp        *spec.Experiment
	bound      *bind.Bound
	p          *Plan
	fileHashes map[string]string
	teachers   map[string]TeacherRef
}

func (b *builder) add(u *Unit, fragment any) {
	frag := map[string]any{"v": 1, "stage": u.Stage, "fragment": fragment, "deps": u.Deps, "seed": u.Seed}
	u.Key = hashJSON(frag)
	b.p.Units = append(b.p.Units, u)
	b.p.byKey[u.Key] = u
}

func hashJSON(v any) string {
	blob, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("plan: fragment not serialisable: %v", err))
	}
	h := sha256.Sum256(blob)
	return hex.EncodeToString(h[:])
}

func (b *builder) fileHash(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	if h, ok := b.fileHashes[path]; ok {
		return h, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	s := hex.EncodeToString(h.Sum(nil))
	b.fileHashes[path] = s
	return s, nil
}

// CtyJSON renders a value as JSON for hashing.
func CtyJSON(v cty.Value) json.RawMessage { return ctyJSON(v) }

func ctyJSON(v cty.Value) json.RawMessage {
	if v == cty.NilVal {
		return json.RawMessage("null")
	}
	blob, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return json.RawMessage(fmt.Sprintf("%q", err.Error()))
	}
	return blob
}

func (b *builder) teacherFragment(t TeacherRef) map[string]any {
	f := map[string]any{"name": t.Name, "extra": t.Extra}
	if t.Bound != nil {
		f["plugin"], f["component"], f["version"], f["config"] = t.Bound.Plugin, t.Bound.Name, t.Bound.Version, ctyJSON(t.Bound.Redacted)
	}
	if t.Spec != nil {
		f["model"], f["family"], f["sampling"], f["batch"] = t.Spec.Model, t.Spec.Family, t.Spec.Sampling, t.Spec.Batch
		f["max_reasks"] = t.Spec.Limits.Reasks
		f["context_tokens"] = t.Spec.ContextTokens // which seeds fit
	}
	return f
}

func (b *builder) seedsHash(names ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range b.exp.SeedSets {
		use := len(names) == 0
		for _, n := range names {
			use = use || n == s.Name
		}
		if !use {
			continue
		}
		for _, f := range s.Files {
			h, err := b.fileHash(f)
			if err != nil {
				return nil, fmt.Errorf("seeds %q: %w", s.Name, err)
			}
			out[s.Name+":"+filepath.Base(f)] = h
		}
		out[s.Name+":columns"] = fmt.Sprintf("%+v/%s/%s", s.Columns, s.Format, s.Language)
	}
	return out, nil
}

func (b *builder) strategyFragment(st *spec.Strategy) (map[string]any, error) {
	steps := []map[string]any{}
	for _, s := range st.Steps {
		th, err := b.fileHash(s.Template)
		if err != nil {
			return nil, fmt.Errorf("strategy %q step %q: %w", st.Name, s.Name, err)
		}
		sh, err := b.fileHash(s.System)
		if err != nil {
			return nil, fmt.Errorf("strategy %q step %q: %w", st.Name, s.Name, err)
		}
		step := map[string]any{"name": s.Name, "teacher": s.Teacher, "template": th, "system": sh, "output": s.Output, "schema": s.Schema, "max_tokens": s.MaxTokens}
		if s.Teacher != "self" && s.Teacher != "" {
			if t, ok := b.teachers[s.Teacher]; ok {
				step["named_teacher"] = b.teacherFragment(t)
			}
		}
		steps = append(steps, step)
	}
	seeds, err := b.seedsHash(seedNames(st)...)
	if err != nil {
		return nil, err
	}
	return map[string]any{"name": st.Name, "input": map[string]any{"seeds": st.Input.Seeds, "language": st.Input.Language, "tags": st.Input.Tags}, "in_context": st.InContext, "steps": steps, "emit": map[string]string{"prompt": st.Emit.Prompt, "response": st.Emit.Response}, "seed_data": seeds}, nil
}

func seedNames(st *spec.Strategy) []string {
	if st.Input.Seeds == "" {
		return nil
	}
	return []string{st.Input.Seeds}
}

// Shares splits n examples over strategies by their shares, largest
// remainder first, so the counts always add up to n.
func Shares(strategies []*spec.Strategy, n int) map[string]int {
	total := 0.0
	for _, s := range strategies {
		total += s.Share
	}
	out := map[string]int{}
	type rem struct {
		name string
		frac float64
	}
	var rems []rem
	used := 0
	for _, s := range strategies {
		exact := float64(n) * s.Share / total
		out[s.Name] = int(exact)
		used += int(exact)
		rems = append(rems, rem{s.Name, exact - float64(int(exact))})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].frac > rems[j].frac })
	for i := 0; used < n && len(rems) > 0; i++ {
		out[rems[i%len(rems)].name]++
		used++
	}
	return out
}

// Rough per-call token estimates for the cost preview; the real cost is
// computed from the usage each provider reports.
const (
	estInputTokensPerCall  = 350
	estInContextTokens     = 200
	estOutputTokensDefault = 600
	// A judge's call holds the example (prompt and response) and a rubric;
	// its verdict is short.
	estJudgeInputTokens  = estInputTokensPerCall + estOutputTokensDefault
	estJudgeOutputTokens = 300
)

func (b *builder) build(teachers []TeacherRef) error {
	exp := b.exp
	shares := Shares(exp.Strategies, exp.ExamplesPerCell)
	type cellKey struct {
		teacher, lang string
		seed          int64
	}
	cellGen := map[cellKey][]string{}
	cellExamples := 0 // examples a cell asks for
	for _, st := range exp.Strategies {
		cellExamples += shares[st.Name]
	}
	for _, seed := range exp.RandomSeeds {
		for _, t := range teachers {
			tf := b.teacherFragment(t)
			for _, lang := range exp.Languages {
				for _, st := range exp.Strategies {
					sf, err := b.strategyFragment(st)
					if err != nil {
						return err
					}
					n := shares[st.Name]
					if n == 0 {
						continue
					}
					u := &Unit{Stage: Generate, Label: fmt.Sprintf("generate %s/%s/%s seed %d", t.Name, lang, st.Name, seed), Teacher: t.Name, Language: lang, Strategy: st.Name, Seed: seed, N: n, Control: t.Control}
					b.estimate(u, t, st)
					b.add(u, map[string]any{"teacher": tf, "strategy": sf, "language": lang, "n": n})
					ck := cellKey{t.Name, lang, seed}
					cellGen[ck] = append(cellGen[ck], u.Key)
				}
			}
		}
	}
	// Metrics: one unit per (metric, cell).
	cellMetrics := map[cellKey][]string{}
	for _, seed := range exp.RandomSeeds {
		for _, t := range teachers {
			for _, lang := range exp.Languages {
				ck := cellKey{t.Name, lang, seed}
				for _, m := range exp.Metrics {
					mc := b.bound.Metrics[m.Name]
					frag := map[string]any{"metric": m.Name, "direction": m.Direction, "sample": sampleOf(exp, m)}
					if mc != nil {
						frag["plugin"], frag["component"], frag["version"], frag["config"] = mc.Plugin, mc.Name, mc.Version, ctyJSON(mc.Redacted)
						if mc.Info.Metric != nil && mc.Info.Metric.WantsReference {
							sh, err := b.seedsHash()
							if err != nil {
								return err
							}
							frag["reference"] = sh
						}
					}
					u := &Unit{Stage: Metrics, Label: fmt.Sprintf("metric %s on %s/%s seed %d", m.Name, t.Name, lang, seed), Teacher: t.Name, Language: lang, Metric: m.Name, Seed: seed, Deps: sorted(cellGen[ck]), Control: t.Control}
					b.estimateMetric(u, m, mc, cellExamples)
					b.add(u, frag)
					cellMetrics[ck] = append(cellMetrics[ck], u.Key)
				}
			}
		}
	}
	// Students: base and reference per (student, language, seed), a
	// trained student per (student, cell), each evaluated.
	var evalKeys []string
	for _, seed := range exp.RandomSeeds {
		for _, s := range exp.Students {
			sc := b.bound.Students[s.Name]
			sfrag := map[string]any{"name": s.Name, "base_model": s.BaseModel, "reference": s.Reference, "family": s.Family, "hyperparameters": ctyMap(s.Hyperparameters)}
			if sc != nil {
				sfrag["plugin"], sfrag["component"], sfrag["version"], sfrag["config"] = sc.Plugin, sc.Name, sc.Version, ctyJSON(sc.Redacted)
			}
			for _, lang := range exp.Languages {
				benches := b.benchmarksFor(lang)
				var baseKey string
				for _, role := range []string{"base", "reference"} {
					u := &Unit{Stage: Train, Label: fmt.Sprintf("train %s %s/%s seed %d", s.Name, role, lang, seed), Student: s.Name, Role: role, Language: lang, Seed: seed}
					if role == "reference" {
						u.Deps = []string{baseKey}
					}
					frag := map[string]any{"student": sfrag, "role": role, "language": lang}
					if role == "reference" {
						sh, err := b.seedsHash()
						if err != nil {
							return err
						}
						frag["reference_data"] = sh
					}
					b.add(u, frag)
					if role == "base" {
						baseKey = u.Key
					}
					ev := &Unit{Stage: Evaluate, Label: fmt.Sprintf("evaluate %s %s/%s seed %d", s.Name, role, lang, seed), Student: s.Name, Role: role, Language: lang, Seed: seed, Deps: []string{u.Key}}
					b.add(ev, map[string]any{"benchmarks": benches})
					evalKeys = append(evalKeys, ev.Key)
				}
				for _, t := range teachers {
					ck := cellKey{t.Name, lang, seed}
					u := &Unit{Stage: Train, Label: fmt.Sprintf("train %s on %s/%s seed %d", s.Name, t.Name, lang, seed), Student: s.Name, Role: "student", Teacher: t.Name, Language: lang, Seed: seed, Deps: sorted(append(cellGen[ck], baseKey)), Control: t.Control}
					b.add(u, map[string]any{"student": sfrag, "role": "student", "language": lang})
					ev := &Unit{Stage: Evaluate, Label: fmt.Sprintf("evaluate %s on %s/%s seed %d", s.Name, t.Name, lang, seed), Student: s.Name, Role: "student", Teacher: t.Name, Language: lang, Seed: seed, Deps: []string{u.Key}, Control: t.Control}
					b.add(ev, map[string]any{"benchmarks": benches})
					evalKeys = append(evalKeys, ev.Key)
				}
			}
		}
	}
	var all []string
	for _, ks := range cellMetrics {
		all = append(all, ks...)
	}
	all = append(all, evalKeys...)
	score := &Unit{Stage: Score, Label: "score and report", Deps: sorted(all)}
	b.add(score, map[string]any{"score": exp.Score})
	return nil
}

func sampleOf(exp *spec.Experiment, m *spec.Metric) int {
	if m.Sample > 0 {
		return m.Sample
	}
	return exp.MetricSample
}

func (b *builder) benchmarksFor(lang string) []map[string]any {
	var out []map[string]any
	for _, bm := range b.exp.Benchmarks {
		for _, l := range bm.Languages {
			if l == lang {
				out = append(out, map[string]any{"name": bm.Name, "task": bm.Task, "shots": bm.Shots, "metric": bm.Metric})
			}
		}
	}
	return out
}

func (b *builder) estimate(u *Unit, t TeacherRef, st *spec.Strategy) {
	out := int64(estOutputTokensDefault)
	if t.Spec != nil && t.Spec.Sampling.MaxTokens != nil {
		out = int64(min(*t.Spec.Sampling.MaxTokens, estOutputTokensDefault))
	}
	u.Requests = u.N
	calls := int64(u.N)
	for range st.Steps {
		u.EstInputTokens += calls * int64(estInputTokensPerCall+st.InContext*estInContextTokens)
		u.EstOutputTokens += calls * out
	}
	if t.Spec != nil {
		u.EstCostUSD = float64(u.EstInputTokens)*t.Spec.Price.InputPerMTok/1e6 + float64(u.EstOutputTokens)*t.Spec.Price.OutputPerMTok/1e6
	}
}

// estimateMetric counts the calls a metric unit sends to the teacher its
// config names (sdk.MetricInfo.CallsPerExample for each example of the
// cell's sample) and prices them at that teacher's prices.
func (b *builder) estimateMetric(u *Unit, m *spec.Metric, mc *bind.Component, cellExamples int) {
	if mc == nil || mc.Info.Metric == nil || mc.Info.Metric.CallsPerExample <= 0 {
		return
	}
	refs := bind.TeacherRefs(mc)
	if len(refs) == 0 {
		return
	}
	u.JudgeTeacher = refs[0].Teacher
	u.Requests = mc.Info.Metric.CallsPerExample * min(sampleOf(b.exp, m), cellExamples)
	t, ok := b.teachers[u.JudgeTeacher]
	if !ok || t.Spec == nil {
		return
	}
	out := int64(estJudgeOutputTokens)
	if t.Spec.Sampling.MaxTokens != nil {
		out = int64(min(*t.Spec.Sampling.MaxTokens, estJudgeOutputTokens))
	}
	u.EstInputTokens = int64(u.Requests) * estJudgeInputTokens
	u.EstOutputTokens = int64(u.Requests) * out
	u.EstCostUSD = float64(u.EstInputTokens)*t.Spec.Price.InputPerMTok/1e6 + float64(u.EstOutputTokens)*t.Spec.Price.OutputPerMTok/1e6
}

func ctyMap(m map[string]cty.Value) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range m {
		out[k] = ctyJSON(v)
	}
	return out
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}
