package analysis

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/score"
)

// Options tune the analyses.
type Options struct {
	// PCA chooses the PCA's features: PCAScored (default) or PCAStudy.
	PCA string
	// Components is k, the number of leading components the regressions use; 0 = the
	// smallest k explaining ≥ 90 % of the variance. Fewer are used when the cells cannot
	// support k (a note says so).
	Components int
	Folds      int    // k-fold cross-validation; 0 = 5 (fewer when there are fewer cells)
	Seed       uint64 // fold shuffle
	// Alpha is the significance level of the tests in the recommendations; 0 = 1 − confidence.
	Alpha float64
}

// PCA feature sets.
const (
	// PCAScored analyses every metric present in all cells, oriented as in the score
	// (perplexity as −log(1+PPL)).
	PCAScored = "scored"
	// PCAStudy analyses the study's six features as they are: prompt and response
	// diversity, raw perplexity, judge score, mean prompt and response length.
	PCAStudy = "study"
)

// studyFeatures are the study's PCA features with the metric names that carry them
// (the first present in every cell is used).
var studyFeatures = []struct {
	role  string
	names []string
}{
	{"prompt diversity", []string{"diversity.prompt"}},
	{"response diversity", []string{"diversity.response"}},
	{"perplexity (raw)", []string{"perplexity", "ppl"}},
	{"judge score", []string{"judge"}},
	{"prompt length", []string{"length.prompt_tokens", "length.prompt"}},
	{"response length", []string{"length.response_tokens", "length.response"}},
}

// Minimum numbers of points below which an analysis is refused: its estimate or its
// p-value would mean nothing (a slope over three teachers has one degree of freedom).
const (
	MinCorrelationCells = 6 // Spearman over cells
	MinScaleTeachers    = 6 // PG against size or benchmark strength
	MinAlphaUnits       = 4 // rankings compared at several α
	MinFamilyGroup      = 3 // students per group in the family test
)

// MinPCACells is the minimum number of cells for a PCA of d features: with fewer than
// d+1 observations the trailing components are zero by construction.
func MinPCACells(d int) int { return max(3, d+1) }

// AlphaMatrix holds Spearman correlations between rankings at several α.
type AlphaMatrix struct {
	// Level is "cells" (every teacher × language cell: the study's form) or "teachers"
	// (teacher averages over languages).
	Level  string      `json:"level"`
	N      int         `json:"n"`
	MinN   int         `json:"min_n"`
	Alphas []float64   `json:"alphas"`
	Rho    [][]float64 `json:"rho"`
	Min    float64     `json:"min"`
}

// LanguageBest names the best teacher and strategy of a language.
type LanguageBest struct {
	Language          string          `json:"language"`
	Teacher           string          `json:"teacher"`
	PG                float64         `json:"pg"`
	CI                *score.Interval `json:"ci,omitempty"`
	Indistinguishable []string        `json:"indistinguishable"`  // teachers not distinguishable from the best
	Undecided         []string        `json:"undecided"`          // teachers lacking uncertainty information
	Strategy          string          `json:"strategy,omitempty"` // highest mean PG over teachers
	StrategyPG        float64         `json:"strategy_pg,omitempty"`
	StrategyTeacher   string          `json:"strategy_teacher,omitempty"` // best single (teacher, strategy) cell
	StrategyCellPG    float64         `json:"strategy_cell_pg,omitempty"`
}

// FamilyMatch compares students trained on a teacher of their own family with the rest.
type FamilyMatch struct {
	MinN      int      `json:"min_n"` // per group
	Families  []string `json:"families"`
	Matched   int      `json:"matched"`
	Unmatched int      `json:"unmatched"`
	Test      TTest    `json:"test"` // A = matched, B = unmatched PGR
}

// CostRow relates a teacher's spend to its scores.
type CostRow struct {
	Teacher        string  `json:"teacher"`
	CostUSD        float64 `json:"cost_usd"`  // what the teacher's data cost
	SavedUSD       float64 `json:"saved_usd"` // of CostUSD, answered by the response cache
	Examples       int     `json:"examples"`
	PG             float64 `json:"pg"`
	Extrinsic      float64 `json:"extrinsic"`
	PGPerDollar    float64 `json:"pg_per_dollar"`        // PG is relative (z-based) and can be negative
	PGRPerDollar   float64 `json:"extrinsic_per_dollar"` // PGR is absolute: gap recovered per dollar
	CostPerExample float64 `json:"cost_per_example"`
}

// Recommendation is one sentence of advice derived from the numbers.
type Recommendation struct {
	Scope string `json:"scope"` // a language tag or "overall"
	Kind  string `json:"kind"`  // teacher | strategy | uncertain | anchor | scale | metrics | controls
	Text  string `json:"text"`
}

// Analysis gathers every analysis; a nil field means it could not run (see Notes).
type Analysis struct {
	Features           [][]float64      `json:"-"`
	PCA                *PCA             `json:"pca,omitempty"`
	Regressions        []Regression     `json:"regressions"` // one per target: TargetBenchmark, TargetPGR
	IntrinsicExtrinsic *Correlation     `json:"intrinsic_extrinsic,omitempty"`
	AlphaRobustness    *AlphaMatrix     `json:"alpha_robustness,omitempty"` // cell level (the study's)
	AlphaTeachers      *AlphaMatrix     `json:"alpha_robustness_teachers,omitempty"`
	ScaleParams        *LinearFit       `json:"pg_vs_log10_parameters,omitempty"`
	ScaleStrength      *LinearFit       `json:"pg_vs_benchmark_strength,omitempty"`
	BestByLanguage     []LanguageBest   `json:"best_by_language"`
	Family             *FamilyMatch     `json:"family_matching,omitempty"`
	Cost               []CostRow        `json:"cost"`
	Controls           []ControlCheck   `json:"controls"`
	Recommendations    []Recommendation `json:"recommendations"`
	Notes              []string         `json:"notes"` // why an analysis did not run
}

// Run performs every analysis that the data supports.
func Run(st *score.Study, res *score.Result, opt Options) *Analysis {
	if opt.Folds == 0 {
		opt.Folds = 5
	}
	if opt.Alpha == 0 {
		opt.Alpha = 1 - res.Settings.Confidence
	}
	if opt.PCA == "" {
		opt.PCA = PCAScored
	}
	a := &Analysis{}
	a.pca(st, res, opt)
	a.correlation(res)
	a.alpha(res)
	a.scale(st, res)
	a.best(res)
	a.family(res)
	a.cost(st, res)
	a.controls(st, res)
	a.recommend(st, res, opt)
	return a
}

func (a *Analysis) note(format string, args ...any) {
	a.Notes = append(a.Notes, fmt.Sprintf(format, args...))
}

// pcaFeatures picks the feature names and each cell's row: with PCAScored every metric
// present in all cells, oriented as in the score; with PCAStudy the study's six features,
// raw. missing lists study features no metric of every cell carries.
func pcaFeatures(res *score.Result, set string) (feats []string, rows [][]float64, missing []string) {
	inAll := func(name string) bool {
		for _, c := range res.Cells {
			if _, ok := c.Raw[name]; !ok {
				return false
			}
		}
		return len(res.Cells) > 0
	}
	dir := map[string]score.Direction{}
	for _, m := range res.Metrics {
		dir[m.Metric] = m.Direction
	}
	value := func(c score.CellScore, f string) float64 { return score.Orient(f, dir[f], c.Raw[f]) }
	if set == PCAStudy {
		value = func(c score.CellScore, f string) float64 { return c.Raw[f] }
		for _, sf := range studyFeatures {
			found := ""
			for _, n := range sf.names {
				if inAll(n) {
					found = n
					break
				}
			}
			if found == "" {
				missing = append(missing, sf.role+" ("+strings.Join(sf.names, " or ")+")")
				continue
			}
			feats = append(feats, found)
		}
	} else {
		for _, m := range res.Metrics {
			if inAll(m.Metric) {
				feats = append(feats, m.Metric)
			}
		}
		sort.Strings(feats)
	}
	for _, c := range res.Cells {
		row := make([]float64, len(feats))
		for j, f := range feats {
			row[j] = value(c, f)
		}
		rows = append(rows, row)
	}
	return feats, rows, missing
}

// Regression targets.
const (
	TargetBenchmark = "benchmark" // the student's mean raw benchmark score (the study's)
	TargetPGR       = "pgr"       // the cell's Extrinsic (PGR)
)

// studentScores returns each ranking cell's mean raw student benchmark score (over the
// language's benchmarks, students and seeds), by teacher and language.
func studentScores(st *score.Study) map[[2]string]float64 {
	sum, n := map[[2]string]float64{}, map[[2]string]int{}
	for _, b := range st.Benchmarks {
		if b.Role != score.RoleStudent || b.Strategy != "" {
			continue
		}
		k := [2]string{b.Teacher, b.Language}
		sum[k] += b.Score
		n[k]++
	}
	out := map[[2]string]float64{}
	for k, s := range sum {
		out[k] = s / float64(n[k])
	}
	return out
}

// pca runs the PCA on the ranking cells and the regressions of the student's results on
// its leading components.
func (a *Analysis) pca(st *score.Study, res *score.Result, opt Options) {
	if opt.PCA != PCAScored && opt.PCA != PCAStudy {
		a.note("PCA skipped: feature set %q is unknown; use %q or %q.", opt.PCA, PCAScored, PCAStudy)
		return
	}
	feats, x, missing := pcaFeatures(res, opt.PCA)
	if len(missing) > 0 {
		a.note("PCA (%s features): no value in every cell for %s; the PCA uses the other %d.", opt.PCA, strings.Join(missing, ", "), len(feats))
	}
	minN := MinPCACells(len(feats))
	if len(feats) < 2 || len(res.Cells) < minN {
		a.note("PCA skipped: it needs at least 2 features present in every cell and %d cells (have %d features, %d cells).", minN, len(feats), len(res.Cells))
		return
	}
	a.Features = x
	p, err := PCAOf(x, feats, true)
	if err != nil {
		a.note("PCA failed: %v", err)
		return
	}
	p.Set, p.N, p.MinN = opt.PCA, len(x), minN
	a.PCA = p
	k, rule := opt.Components, "set"
	if k == 0 {
		k, rule = p.ComponentsFor(0.9), "the fewest explaining ≥ 90 % of the variance"
	}
	if k > len(feats) {
		a.note("Regression uses %d components, the number of features, instead of the %d asked for.", len(feats), k)
		k = len(feats)
	}
	p.Components, p.ComponentsRule = k, rule
	bench := studentScores(st)
	for _, target := range []string{TargetBenchmark, TargetPGR} {
		var xe [][]float64
		var y []float64
		for i, c := range res.Cells {
			switch target {
			case TargetBenchmark:
				if v, ok := bench[[2]string{c.Teacher, c.Language}]; ok {
					xe, y = append(xe, x[i]), append(y, v)
				}
			case TargetPGR:
				if c.HasExtrinsic {
					xe, y = append(xe, x[i]), append(y, c.Extrinsic)
				}
			}
		}
		a.regress(target, xe, y, k, opt)
	}
}

func (a *Analysis) regress(target string, x [][]float64, y []float64, k int, opt Options) {
	name := map[string]string{TargetBenchmark: "Regression of the student's benchmark score", TargetPGR: "Regression of PGR"}[target]
	folds := min(opt.Folds, len(y))
	minN := MinRegressionCells(k, max(folds, 2))
	if len(y) < minN {
		// Fewer components may still fit.
		kk := k
		for kk > 1 && len(y) < MinRegressionCells(kk, max(folds, 2)) {
			kk--
		}
		if len(y) < MinRegressionCells(kk, max(folds, 2)) {
			a.note("%s skipped: %d cells have it; %d-fold cross-validation of %d component(s) needs at least %d.", name, len(y), max(folds, 2), kk, MinRegressionCells(kk, max(folds, 2)))
			return
		}
		a.note("%s uses %d components instead of %d: %d cells cannot support more.", name, kk, k, len(y))
		k, minN = kk, MinRegressionCells(kk, max(folds, 2))
	}
	r, err := RegressOnComponents(x, y, k, folds, opt.Seed)
	if err != nil {
		a.note("%s failed: %v", name, err)
		return
	}
	r.Target, r.MinN = target, minN
	a.Regressions = append(a.Regressions, *r)
}

// MinRegressionCells is the fewest cells for a k-component regression with f-fold
// cross-validation: every training fold keeps at least k+2 cells.
func MinRegressionCells(k, f int) int {
	for n := k + 2; ; n++ {
		if n >= f && n-(n+f-1)/f >= k+2 {
			return n
		}
	}
}

func (a *Analysis) correlation(res *score.Result) {
	var in, ex []float64
	for _, c := range res.Cells {
		if c.HasIntrinsic && c.HasExtrinsic {
			in, ex = append(in, c.Intrinsic), append(ex, c.Extrinsic)
		}
	}
	if len(in) < MinCorrelationCells {
		a.note("Intrinsic–extrinsic correlation skipped: %d cells have both parts; at least %d are needed.", len(in), MinCorrelationCells)
		return
	}
	c, err := Spearman(in, ex)
	if err != nil {
		a.note("Intrinsic–extrinsic correlation skipped: %v", err)
		return
	}
	c.MinN = MinCorrelationCells
	a.IntrinsicExtrinsic = &c
}

// alpha compares rankings at several α: of all teacher × language cells (the study's
// form, the basis of the advice) and of teacher averages (a second view).
func (a *Analysis) alpha(res *score.Result) {
	alphas := res.Settings.Alphas
	if len(alphas) < 2 {
		a.note("α-robustness skipped: it needs at least 2 alphas.")
		return
	}
	cells := make([][]float64, len(alphas))
	teachers := make([][]float64, len(alphas))
	for i, al := range alphas {
		cells[i] = res.CellPGAt(al)
		pg := res.TeacherPGAt(al)
		for _, t := range res.Teachers {
			teachers[i] = append(teachers[i], pg[t.Teacher])
		}
	}
	if len(res.Cells) < MinAlphaUnits {
		a.note("α-robustness over cells skipped: %d cells; at least %d are needed.", len(res.Cells), MinAlphaUnits)
	} else {
		a.AlphaRobustness = alphaMatrix("cells", alphas, cells)
	}
	if len(res.Teachers) < MinAlphaUnits {
		a.note("α-robustness over teacher averages skipped: %d teachers; at least %d are needed.", len(res.Teachers), MinAlphaUnits)
	} else {
		a.AlphaTeachers = alphaMatrix("teachers", alphas, teachers)
	}
}

func alphaMatrix(level string, alphas []float64, vecs [][]float64) *AlphaMatrix {
	m := &AlphaMatrix{Level: level, N: len(vecs[0]), MinN: MinAlphaUnits, Alphas: alphas, Min: 1}
	for i := range alphas {
		row := make([]float64, len(alphas))
		for j := range alphas {
			c, err := Spearman(vecs[i], vecs[j])
			if err != nil {
				row[j] = math.NaN()
				continue
			}
			row[j] = c.Rho
			m.Min = math.Min(m.Min, c.Rho)
		}
		m.Rho = append(m.Rho, row)
	}
	return m
}

func (a *Analysis) scale(st *score.Study, res *score.Result) {
	var lp, pg1, bs, pg2 []float64
	for _, t := range res.Teachers {
		info := st.Teacher(t.Teacher)
		if info.Parameters > 0 {
			lp, pg1 = append(lp, math.Log10(info.Parameters)), append(pg1, t.PG)
		}
		if info.BenchmarkStrength != 0 {
			bs, pg2 = append(bs, info.BenchmarkStrength), append(pg2, t.PG)
		}
	}
	fit := func(what string, x, y []float64) *LinearFit {
		if len(x) < MinScaleTeachers {
			a.note("PG vs %s skipped: %d teachers have it; at least %d are needed for a slope whose p-value means something.", what, len(x), MinScaleTeachers)
			return nil
		}
		f, err := OLS(x, y)
		if err != nil {
			a.note("PG vs %s skipped: %v (%d teachers).", what, err, len(x))
			return nil
		}
		f.MinN = MinScaleTeachers
		return &f
	}
	a.ScaleParams = fit("log10(parameters)", lp, pg1)
	a.ScaleStrength = fit("benchmark strength", bs, pg2)
}

func (a *Analysis) best(res *score.Result) {
	for _, lang := range res.Languages {
		lb := LanguageBest{Language: lang}
		for _, c := range res.Cells {
			if c.Language != lang {
				continue
			}
			switch c.Standing {
			case score.StandingBest:
				lb.Teacher, lb.PG, lb.CI = c.Teacher, c.PG, c.CI
			case score.StandingIndistinguishable:
				lb.Indistinguishable = append(lb.Indistinguishable, c.Teacher)
			case score.StandingUnknown:
				lb.Undecided = append(lb.Undecided, c.Teacher)
			}
		}
		sum, n := map[string]float64{}, map[string]int{}
		for _, c := range res.ByStrategy {
			if c.Language != lang {
				continue
			}
			sum[c.Strategy] += c.PG
			n[c.Strategy]++
			if lb.StrategyTeacher == "" || c.PG > lb.StrategyCellPG {
				lb.StrategyTeacher, lb.StrategyCellPG = c.Teacher+" / "+c.Strategy, c.PG
			}
		}
		for _, s := range res.Strategies {
			if n[s] == 0 {
				continue
			}
			if m := sum[s] / float64(n[s]); lb.Strategy == "" || m > lb.StrategyPG {
				lb.Strategy, lb.StrategyPG = s, m
			}
		}
		if lb.Teacher != "" || lb.Strategy != "" {
			a.BestByLanguage = append(a.BestByLanguage, lb)
		}
	}
}

func (a *Analysis) family(res *score.Result) {
	fams := map[string]bool{}
	for _, g := range res.Students {
		fams[g.StudentFamily] = true
	}
	if len(fams) < 2 {
		a.note("Teacher–student family matching skipped: the study has %d student family; it needs at least 2.", len(fams))
		return
	}
	var m, u []float64
	for _, g := range res.Students {
		if g.TeacherFamily != "" && g.TeacherFamily == g.StudentFamily {
			m = append(m, g.PGR)
		} else {
			u = append(u, g.PGR)
		}
	}
	if len(m) < MinFamilyGroup || len(u) < MinFamilyGroup {
		a.note("Teacher–student family matching skipped: %d matched and %d unmatched student results; each group needs at least %d.", len(m), len(u), MinFamilyGroup)
		return
	}
	fm := &FamilyMatch{Matched: len(m), Unmatched: len(u), MinN: MinFamilyGroup}
	for f := range fams {
		fm.Families = append(fm.Families, f)
	}
	sort.Strings(fm.Families)
	t, err := WelchT(m, u)
	if err != nil {
		a.note("Teacher–student family matching: %v", err)
		return
	}
	fm.Test = t
	a.Family = fm
}

func (a *Analysis) cost(st *score.Study, res *score.Result) {
	for _, t := range res.Teachers {
		info := st.Teacher(t.Teacher)
		if info.CostUSD <= 0 {
			continue
		}
		r := CostRow{Teacher: t.Teacher, CostUSD: info.CostUSD, SavedUSD: info.SavedUSD, Examples: info.Examples, PG: t.PG, Extrinsic: t.Extrinsic,
			PGPerDollar: t.PG / info.CostUSD, PGRPerDollar: t.Extrinsic / info.CostUSD}
		if info.Examples > 0 {
			r.CostPerExample = info.CostUSD / float64(info.Examples)
		}
		a.Cost = append(a.Cost, r)
	}
	if len(a.Cost) == 0 {
		a.note("Cost analysis skipped: no teacher record has cost_usd.")
	}
}

func fmtCI(ci *score.Interval) string {
	if ci == nil {
		return "no interval"
	}
	return fmt.Sprintf("%.3g–%.3g", ci.Lo, ci.Hi)
}

func (a *Analysis) recommend(st *score.Study, res *score.Result, opt Options) {
	add := func(scope, kind, format string, args ...any) {
		a.Recommendations = append(a.Recommendations, Recommendation{Scope: scope, Kind: kind, Text: fmt.Sprintf(format, args...)})
	}
	conf := res.Settings.Confidence * 100
	// A negative control is never advice: when one ranks first or ties with the best, the
	// metrics miss its corruption and the ranking there cannot be trusted.
	isControl := map[string]bool{}
	for _, c := range st.Controls {
		isControl[c.Name] = true
	}
	controlFirst := func(scope, where, name string, pg float64) {
		add(scope, "controls", "%s the negative control %s scores highest (PG %.3g): the scored metrics do not see its corruption, so this ranking cannot be trusted; see the negative-controls table and fix the metrics before choosing a teacher.", where, name, pg)
	}
	controlTied := func(scope, where string, names []string) {
		add(scope, "controls", "%s the negative control%s %s cannot be told apart from the best at %.0f %% confidence: the scored metrics barely see %s corruption.", where, map[bool]string{true: "", false: "s"}[len(names) == 1], joinList(names), conf, map[bool]string{true: "its", false: "their"}[len(names) == 1])
	}
	split := func(names []string) (real, ctl []string) {
		for _, n := range names {
			if isControl[n] {
				ctl = append(ctl, n)
			} else {
				real = append(real, n)
			}
		}
		return real, ctl
	}
	if len(res.Teachers) > 0 {
		b := res.Teachers[0]
		var tied []string
		for _, t := range res.Teachers[1:] {
			if t.Standing == score.StandingIndistinguishable {
				tied = append(tied, t.Teacher)
			}
		}
		tied, tiedCtl := split(tied)
		if len(tiedCtl) > 0 {
			controlTied("overall", "Across languages", tiedCtl)
		}
		switch {
		case isControl[b.Teacher]:
			controlFirst("overall", "Across languages", b.Teacher, b.PG)
		case len(res.Teachers) == 1:
			add("overall", "teacher", "Only %s was scored (PG %.3g); add teachers to compare.", b.Teacher, b.PG)
		case len(tied) > 0:
			add("overall", "teacher", "Across languages %s ranks first (PG %.3g, %s), but %s cannot be told apart from it at %.0f %% confidence; choose among them by cost or by language.", b.Teacher, b.PG, fmtCI(b.CI), joinList(tied), conf)
		case res.Teachers[1].Standing == score.StandingUnknown:
			add("overall", "uncertain", "Across languages %s ranks first (PG %.3g), but with one seed and no per-example values there is no uncertainty estimate: run more seeds or keep per-example metric values before trusting the order.", b.Teacher, b.PG)
		default:
			add("overall", "teacher", "Across languages %s is best (PG %.3g, %s) and significantly ahead of every other teacher at %.0f %% confidence.", b.Teacher, b.PG, fmtCI(b.CI), conf)
		}
	}
	cost := map[string]float64{}
	for _, c := range a.Cost {
		cost[c.Teacher] = c.CostUSD
	}
	for _, lb := range a.BestByLanguage {
		var tiedCtl []string
		lb.Indistinguishable, tiedCtl = split(lb.Indistinguishable)
		if len(tiedCtl) > 0 && !isControl[lb.Teacher] {
			controlTied(lb.Language, "For "+lb.Language+",", tiedCtl)
		}
		if lb.Teacher != "" {
			switch {
			case isControl[lb.Teacher]:
				controlFirst(lb.Language, "For "+lb.Language+",", lb.Teacher, lb.PG)
			case len(lb.Undecided) > 0 && len(lb.Indistinguishable) == 0:
				add(lb.Language, "uncertain", "For %s, %s scores highest (PG %.3g), but %s lack uncertainty information, so the ranking there is too uncertain to act on; run more seeds.", lb.Language, lb.Teacher, lb.PG, joinList(lb.Undecided))
			case len(lb.Indistinguishable) > 0:
				set := append([]string{lb.Teacher}, lb.Indistinguishable...)
				cheap, cc := "", math.Inf(1)
				for _, t := range set {
					if c, ok := cost[t]; ok && c < cc {
						cheap, cc = t, c
					}
				}
				txt := fmt.Sprintf("For %s, %s ranks first (PG %.3g, %s) but %s %s statistically indistinguishable from it", lb.Language, lb.Teacher, lb.PG, fmtCI(lb.CI), joinList(lb.Indistinguishable), map[bool]string{true: "is", false: "are"}[len(lb.Indistinguishable) == 1])
				if cheap != "" {
					txt += fmt.Sprintf("; the cheapest of these is %s ($%.2f)", cheap, cc)
				}
				add(lb.Language, "teacher", "%s.", txt)
			default:
				add(lb.Language, "teacher", "For %s, use %s (PG %.3g, %s): it is significantly better than the other teachers.", lb.Language, lb.Teacher, lb.PG, fmtCI(lb.CI))
			}
		}
		if lb.Strategy != "" {
			add(lb.Language, "strategy", "For %s, the %s strategy gives the highest mean PG over teachers (%.3g); the best single combination is %s (PG %.3g).", lb.Language, lb.Strategy, lb.StrategyPG, lb.StrategyTeacher, lb.StrategyCellPG)
		}
	}
	for _, d := range res.Diagnostics {
		if d.Kind == score.KindReferenceNotAboveBase || d.Kind == score.KindConstantBenchmark {
			add(d.Language, "anchor", "Do not trust PGR on %s for %s (student %s): %s", d.Benchmark, d.Language, d.Student, d.Message)
		}
	}
	if f := a.ScaleParams; f != nil {
		if f.P < opt.Alpha {
			add("overall", "scale", "Teacher size predicts PG-Score here (slope %.3g per tenfold parameters, p = %.2g, %d teachers).", f.Slope, f.P, f.N)
		} else {
			add("overall", "scale", "Teacher size does not predict PG-Score here (slope %.3g per tenfold parameters, p = %.2g, %d teachers): do not pick the largest model by habit.", f.Slope, f.P, f.N)
		}
	}
	if c := a.IntrinsicExtrinsic; c != nil {
		strength := "weakly"
		if math.Abs(c.Rho) >= 0.7 {
			strength = "strongly"
		} else if math.Abs(c.Rho) >= 0.4 {
			strength = "moderately"
		}
		add("overall", "metrics", "Intrinsic and extrinsic quality are %s correlated (Spearman ρ = %.2f, p = %.2g, %d cells); %s", strength, c.Rho, c.P, c.N,
			map[bool]string{true: "intrinsic metrics alone are a fair cheap proxy.", false: "do not rely on intrinsic metrics alone."}[c.Rho >= 0.7])
	}
	if m := a.AlphaRobustness; m != nil && m.Min < 0.8 {
		add("overall", "metrics", "The ranking of the %d teacher × language cells depends on α (lowest Spearman between rankings at different α: %.2f); report the α you chose.", m.N, m.Min)
	}
	missed := map[string][]string{}
	for _, c := range a.Controls {
		if c.Designated && !c.Caught {
			missed[c.Control] = append(missed[c.Control], c.Metric+" ("+c.Language+")")
		}
	}
	for _, k := range sortedKeys(missed) {
		add("overall", "controls", "The negative control %s was not caught by %s: those metrics may not see this failure.", k, joinList(missed[k]))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func joinList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	out := ""
	for i, x := range xs {
		switch {
		case i == 0:
			out = x
		case i == len(xs)-1:
			out += " and " + x
		default:
			out += ", " + x
		}
	}
	return out
}
