package engine

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/analysis"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/report"
	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// Settings turns the spec's score block into scoring settings.
func (p *Prepared) Settings() score.Settings {
	s := score.DefaultSettings()
	sc := p.Exp.Score
	if sc == nil {
		return s
	}
	s.Alpha, s.PGR, s.Standardize, s.Confidence, s.Bootstrap = sc.Alpha, sc.PGR, sc.Standardize, sc.Confidence, sc.Bootstrap
	if len(sc.Alphas) > 0 {
		s.Alphas = sc.Alphas
	}
	s.Metrics = sc.Metrics
	s.MinExamples, s.MinExampleShare = sc.MinExamples, sc.MinExampleShare
	// An experiment of reference data and controls only (a metric
	// calibration run such as the quickstart) has nothing else to rank.
	real := 0
	for _, t := range p.CellTeachers() {
		if !t.Control && (len(p.Exp.Controls) == 0 || !p.isReference(t.Name)) {
			real++
		}
	}
	s.RankControls = real == 0
	return s
}

// AnalysisOptions turns the spec's score block into analysis options.
func (p *Prepared) AnalysisOptions() analysis.Options {
	o := analysis.Options{Seed: p.Settings().Seed}
	if sc := p.Exp.Score; sc != nil {
		o.PCA, o.Components = sc.PCA, sc.Components
	}
	return o
}

// Study reads what the store holds for the current plan into the scoring
// model: results of teachers, languages, seeds or metrics no longer in the
// spec are left out.
func (p *Prepared) Study(st *store.Store, examplesShown int) (*score.Study, error) {
	exp := p.Exp
	teachers := map[string]bool{}
	for _, t := range p.CellTeachers() {
		teachers[t.Name] = true
	}
	langs := setOf(exp.Languages)
	seedsOK := map[int]bool{}
	for _, s := range exp.RandomSeeds {
		seedsOK[int(s)] = true
	}
	metrics := map[string]bool{}
	for _, m := range exp.Metrics {
		metrics[m.Name] = true
	}
	study := &score.Study{}
	aggs, err := st.MetricAggregates()
	if err != nil {
		return nil, err
	}
	// A metric's values are its main value and the values its plugin
	// declares (diversity.prompt, length.response_tokens); the other keys
	// (counts, medians) are bookkeeping that would pollute the analyses.
	declared := map[string]bool{}
	for name, c := range p.Bound.Metrics {
		declared[name] = true
		if c.Info.Metric != nil {
			for _, v := range c.Info.Metric.Values {
				declared[name+"."+v] = true
			}
		}
	}
	for _, a := range aggs {
		base, _, _ := strings.Cut(a.Metric, ".")
		if !teachers[a.Teacher] || !langs[a.Language] || !seedsOK[a.Seed] || !metrics[base] || !declared[a.Metric] {
			continue
		}
		rec := score.MetricRecord{Teacher: a.Teacher, Language: a.Language, Strategy: a.Strategy, Seed: a.Seed, Metric: a.Metric, Value: a.Value, Direction: score.Direction(a.Direction), N: a.N, Stderr: a.Stderr}
		if len(a.Detail) > 0 {
			rec.PerExample, rec.PerExampleKeys = parseDetail(a.Detail)
		}
		study.Metrics = append(study.Metrics, rec)
	}
	evs, err := st.Evals()
	if err != nil {
		return nil, err
	}
	students := map[string]bool{}
	for _, s := range exp.Students {
		students[s.Name] = true
	}
	for _, e := range evs {
		if !students[e.Student] || !langs[e.Language] || !seedsOK[e.Seed] || (e.Role == "student" && !teachers[e.Teacher]) {
			continue
		}
		study.Benchmarks = append(study.Benchmarks, score.BenchmarkRecord{Role: e.Role, Teacher: e.Teacher, Strategy: e.Strategy, Language: e.Language, Student: e.Student, StudentFamily: e.StudentFamily, Seed: e.Seed, Benchmark: e.Benchmark, Score: e.Score, Stderr: e.Stderr})
	}
	sum, err := st.Summary()
	if err != nil {
		return nil, err
	}
	cost, saved := map[string]float64{}, map[string]float64{}
	count := map[string]int{}
	type gk struct {
		t, l, s string
		seed    int
	}
	reasons := map[gk]map[string]int{}
	if err := st.Failures(store.Filter{}, func(f *store.Failure) error {
		if f.Final {
			k := gk{f.Teacher, f.Language, f.Strategy, f.Seed}
			if reasons[k] == nil {
				reasons[k] = map[string]int{}
			}
			reasons[k][f.Reason]++
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, c := range sum.Cells {
		// What the teacher's data cost, wherever it was paid: answers the
		// response cache gave were paid for by an earlier run.
		cost[c.Teacher] += c.CostUSD + c.SavedUSD
		saved[c.Teacher] += c.SavedUSD
		count[c.Teacher] += c.Examples
		if teachers[c.Teacher] && langs[c.Language] && seedsOK[c.Seed] && c.Examples+c.Failures > 0 {
			study.Generation = append(study.Generation, score.GenerationRecord{Teacher: c.Teacher, Language: c.Language, Strategy: c.Strategy,
				Seed: c.Seed, Examples: c.Examples, Failures: c.Failures, Reasons: reasons[gk{c.Teacher, c.Language, c.Strategy, c.Seed}]})
		}
	}
	for _, t := range p.CellTeachers() {
		ti := score.TeacherInfo{Teacher: t.Name, CostUSD: cost[t.Name], SavedUSD: saved[t.Name], Examples: count[t.Name]}
		if t.Spec != nil {
			ti.Family = t.Spec.Family
			if t.Spec.Parameters != nil {
				ti.Parameters = *t.Spec.Parameters
			}
			if t.Spec.BenchmarkStrength != nil {
				ti.BenchmarkStrength = *t.Spec.BenchmarkStrength
			}
		} else {
			ti.Family = "control"
		}
		study.Teachers = append(study.Teachers, ti)
	}
	for _, c := range exp.Controls {
		study.Controls = append(study.Controls, score.Control{Name: c.Name, Kind: c.Kind, Reference: p.referenceTeacher(c.Seeds), CaughtBy: c.CaughtBy})
	}
	if examplesShown > 0 {
		ex, err := p.BrowserExamples(st, examplesShown)
		if err != nil {
			return nil, err
		}
		study.Examples = ex
	}
	return study, nil
}

// parseDetail reads an aggregate's per-example values: a JSON array, or an object with
// the values and their prompts' pair keys (see perExampleDetail).
func parseDetail(d json.RawMessage) ([]float64, []string) {
	var vs []float64
	if json.Unmarshal(d, &vs) == nil {
		return vs, nil
	}
	var o struct {
		Values []float64 `json:"values"`
		Keys   []string  `json:"keys"`
	}
	if json.Unmarshal(d, &o) != nil || len(o.Keys) != len(o.Values) {
		return o.Values, nil
	}
	return o.Values, o.Keys
}

// referenceTeacher finds the teacher that replays a seeds set unchanged: the
// yardstick a negative control is compared with.
func (p *Prepared) referenceTeacher(seedsName string) string {
	set := p.Exp.SeedSet(seedsName)
	for _, t := range p.CellTeachers() {
		if t.Control || t.Bound == nil || t.Bound.Plugin != ControlPlugin || set == nil {
			continue
		}
		v := t.Bound.Config
		if v.Type().IsObjectType() && v.Type().HasAttribute("path") && !v.GetAttr("path").IsNull() {
			path := v.GetAttr("path").AsString()
			corr := "none"
			if v.Type().HasAttribute("corruption") && !v.GetAttr("corruption").IsNull() {
				corr = v.GetAttr("corruption").AsString()
			}
			if corr == "none" && (path == set.Path || strings.HasSuffix(path, strings.TrimPrefix(set.Path, "./"))) {
				return t.Name
			}
		}
	}
	return ""
}

// ControlRoles names the teachers whose data is a negative control ("control") or the
// reference data a control is compared with ("reference"): not training data.
func (p *Prepared) ControlRoles() map[string]string {
	out := map[string]string{}
	for _, t := range p.CellTeachers() {
		switch {
		case t.Control:
			out[t.Name] = "control"
		case len(p.Exp.Controls) > 0 && p.isReference(t.Name):
			out[t.Name] = "reference"
		}
	}
	return out
}

func (p *Prepared) isReference(name string) bool {
	for _, c := range p.Exp.Controls {
		if p.referenceTeacher(c.Seeds) == name {
			return true
		}
	}
	return false
}

// BrowserExamples picks, per cell and metric value, the k best and k worst
// examples for the example browser (the report's and the live view's).
func (p *Prepared) BrowserExamples(st *store.Store, k int) ([]score.Example, error) {
	aggs, err := st.MetricAggregates()
	if err != nil {
		return nil, err
	}
	type cell struct{ teacher, lang string }
	names := map[string]bool{}
	for _, a := range aggs {
		if a.Direction != "none" {
			names[a.Metric] = true
		}
	}
	var out []score.Example
	for _, t := range p.CellTeachers() {
		for _, lang := range p.Exp.Languages {
			f := store.Filter{Teachers: []string{t.Name}, Languages: []string{lang}, Seeds: []int{int(p.Exp.RandomSeeds[0])}}
			type pick struct {
				metric, key string
				value       float64
			}
			var picks []pick
			for name := range names {
				var vals []pick
				if err := st.MetricValues(name, f, func(v *store.MetricValue) error {
					vals = append(vals, pick{name, v.ExampleKey, v.Value})
					return nil
				}); err != nil {
					return nil, err
				}
				sort.Slice(vals, func(i, j int) bool { return vals[i].value < vals[j].value })
				if len(vals) > 2*k {
					vals = append(vals[:k], vals[len(vals)-k:]...)
				}
				picks = append(picks, vals...)
			}
			if len(picks) == 0 {
				continue
			}
			want := map[string][]pick{}
			for _, pk := range picks {
				want[pk.key] = append(want[pk.key], pk)
			}
			if err := st.Examples(f, func(e *store.Example) error {
				for _, pk := range want[e.Key] {
					out = append(out, score.Example{Teacher: e.Teacher, Language: e.Language, Strategy: e.Strategy, Metric: pk.metric, ID: e.Key[:12], Value: pk.value, Prompt: e.Prompt, Response: e.Response})
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// scoredMetrics expands the score block's metric names (block names) into
// the stored metric values that have a direction: a block's main value and
// the sub-values its plugin declares (diversity.prompt, diversity.response),
// never the reported-only extras (perplexity.median).
func scoredMetrics(st *score.Study, names []string) []string {
	want := setOf(names)
	seen := map[string]bool{}
	var out []string
	for _, m := range st.Metrics {
		base, _, _ := strings.Cut(m.Metric, ".")
		if !(want[base] || want[m.Metric]) || m.Direction == score.None || m.Direction == "" || seen[m.Metric] {
			continue
		}
		seen[m.Metric] = true
		out = append(out, m.Metric)
	}
	sort.Strings(out)
	return out
}

func setOf(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// ErrNothingToScore: the store holds no metric value and no evaluation yet.
var ErrNothingToScore = errors.New("nothing to score yet: run the experiment first (`polyglot run`)")

// Score scores what the store holds now with the spec's settings, the
// bootstrap capped at maxBootstrap resamples when maxBootstrap > 0 (the
// live view's provisional ranking). examplesShown as for Study.
func (p *Prepared) Score(st *store.Store, examplesShown, maxBootstrap int) (*score.Study, *score.Result, error) {
	study, err := p.Study(st, examplesShown)
	if err != nil {
		return nil, nil, err
	}
	if len(study.Metrics) == 0 && len(study.Benchmarks) == 0 {
		return study, nil, ErrNothingToScore
	}
	set := p.Settings()
	set.Metrics = scoredMetrics(study, set.Metrics)
	if maxBootstrap > 0 {
		set.Bootstrap = min(set.Bootstrap, maxBootstrap)
	}
	res, err := score.Compute(study, set)
	if err != nil {
		return study, nil, err
	}
	return study, res, nil
}

// WriteReport scores what the store holds and writes the report.
func WriteReport(p *Prepared, st *store.Store, dir string) (*score.Result, error) {
	study, res, err := p.Score(st, 3, 0)
	if err != nil {
		return nil, err
	}
	a := analysis.Run(study, res, p.AnalysisOptions())
	missing, err := p.missing(st)
	if err != nil {
		return nil, err
	}
	scr, err := p.screeningReport(st)
	if err != nil {
		return nil, err
	}
	if err := report.Write(dir, &report.Model{Title: p.Exp.Name, Study: study, Result: res, Analysis: a, Missing: missing, Servers: serverCosts(p, st), Screening: scr}); err != nil {
		return nil, err
	}
	return res, nil
}

func (r *Runner) runScore(ctx context.Context, u *plan.Unit) (any, error) {
	if len(r.P.Exp.Metrics) == 0 && len(r.P.Exp.Students) == 0 {
		r.log.Info().Msg("no metrics and no students: nothing to score; the generated data is in the store (`polyglot export`)")
		r.Opts.Progress.Advance(plan.Score, 1, 0)
		return map[string]any{"skipped": "no metrics or students"}, nil
	}
	res, err := WriteReport(r.P, r.Store, ReportDir(r.Store.Dir()))
	if err != nil {
		return nil, err
	}
	r.log.Info().Str("report", ReportDir(r.Store.Dir())+"/report.html").Msg("report written")
	r.Opts.Progress.Advance(plan.Score, 1, 0) // the score bar's one item
	return map[string]any{"cells": len(res.Cells)}, nil
}

// missing lists the metric, training and evaluation units of the plan that
// failed, with their errors: the results the report must say it lacks.
func (p *Prepared) missing(st *store.Store) ([]report.Missing, error) {
	var out []report.Missing
	for _, stage := range []plan.Stage{plan.Metrics, plan.Train, plan.Evaluate} {
		units, err := st.Units(string(stage))
		if err != nil {
			return nil, err
		}
		for _, su := range units {
			u := p.Plan.Unit(su.Key)
			if su.State != store.Failed || u == nil {
				continue
			}
			var d struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(su.Detail, &d)
			out = append(out, report.Missing{Stage: string(stage), Unit: u.Label, Metric: u.Metric, Student: u.Student, Teacher: u.Teacher, Language: u.Language, Seed: int(u.Seed), Reason: d.Error})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Unit < out[j].Unit })
	return out, nil
}
