package analysis

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/polyglot-teachers/polyglot/core/score"
)

// Options tune the analyses.
type Options struct {
	// Components is k for the regression; 0 = the smallest k explaining ≥ 90 % of the variance,
	// limited by what the number of cells can support.
	Components int
	Folds      int    // k-fold cross-validation; 0 = 5 (fewer when there are fewer cells)
	Seed       uint64 // fold shuffle
	// Alpha is the significance level of the tests in the recommendations; 0 = 1 − confidence.
	Alpha float64
}

// AlphaMatrix holds Spearman correlations between teacher rankings at several α.
type AlphaMatrix struct {
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
	Families  []string `json:"families"`
	Matched   int      `json:"matched"`
	Unmatched int      `json:"unmatched"`
	Test      TTest    `json:"test"` // A = matched, B = unmatched PGR
}

// CostRow relates a teacher's spend to its scores.
type CostRow struct {
	Teacher        string  `json:"teacher"`
	CostUSD        float64 `json:"cost_usd"`
	Examples       int     `json:"examples"`
	PG             float64 `json:"pg"`
	Extrinsic      float64 `json:"extrinsic"`
	PGPerDollar    float64 `json:"pg_per_dollar"`        // PG is relative (z-based) and can be negative
	PGRPerDollar   float64 `json:"extrinsic_per_dollar"` // PGR is absolute: gap recovered per dollar
	CostPerExample float64 `json:"cost_per_example"`
}

// ControlCheck says whether one metric put a negative control below the reference data.
type ControlCheck struct {
	Control        string  `json:"control"`
	Kind           string  `json:"kind,omitempty"`
	Language       string  `json:"language"`
	Metric         string  `json:"metric"`
	Designated     bool    `json:"designated"` // listed in the control's caught_by
	ControlValue   float64 `json:"control_value"`
	ReferenceValue float64 `json:"reference_value"`
	Caught         bool    `json:"caught"` // oriented control value below the reference's
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
	Regression         *Regression      `json:"regression,omitempty"`
	IntrinsicExtrinsic *Correlation     `json:"intrinsic_extrinsic,omitempty"`
	AlphaRobustness    *AlphaMatrix     `json:"alpha_robustness,omitempty"`
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
	a := &Analysis{}
	a.pca(res, opt)
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

// pca builds the feature matrix from the ranking cells: every metric present in all cells,
// oriented as in the score (PPL as −log(1+PPL)), then standardised.
func (a *Analysis) pca(res *score.Result, opt Options) {
	var feats []string
	for _, m := range res.Metrics {
		all := len(res.Cells) > 0
		for _, c := range res.Cells {
			if _, ok := c.Raw[m.Metric]; !ok {
				all = false
				break
			}
		}
		if all {
			feats = append(feats, m.Metric)
		}
	}
	sort.Strings(feats)
	if len(feats) < 2 || len(res.Cells) < 3 {
		a.note("PCA skipped: it needs at least 2 metrics present in every cell and 3 cells (have %d metrics, %d cells).", len(feats), len(res.Cells))
		return
	}
	dir := map[string]score.Direction{}
	for _, m := range res.Metrics {
		dir[m.Metric] = m.Direction
	}
	var x [][]float64
	var y []float64
	var xe [][]float64
	for _, c := range res.Cells {
		row := make([]float64, len(feats))
		for j, f := range feats {
			row[j] = score.Orient(f, dir[f], c.Raw[f])
		}
		x = append(x, row)
		if c.HasExtrinsic {
			xe, y = append(xe, row), append(y, c.Extrinsic)
		}
	}
	a.Features = x
	p, err := PCAOf(x, feats, true)
	if err != nil {
		a.note("PCA failed: %v", err)
		return
	}
	a.PCA = p
	if len(y) < 4 {
		a.note("Regression skipped: only %d cells have student results.", len(y))
		return
	}
	folds := min(opt.Folds, len(y))
	k := opt.Components
	if k == 0 {
		k = p.ComponentsFor(0.9)
	}
	// Each training fold must keep at least k+2 cells.
	maxK := len(y) - (len(y)+folds-1)/folds - 2
	if k > maxK {
		if maxK < 1 {
			a.note("Regression skipped: %d cells with student results are too few for %d-fold cross-validation.", len(y), folds)
			return
		}
		a.note("Regression uses %d components instead of %d: %d cells cannot support more.", maxK, k, len(y))
		k = maxK
	}
	r, err := RegressOnComponents(xe, y, min(k, len(feats)), folds, opt.Seed)
	if err != nil {
		a.note("Regression failed: %v", err)
		return
	}
	a.Regression = r
}

func (a *Analysis) correlation(res *score.Result) {
	var in, ex []float64
	for _, c := range res.Cells {
		if c.HasIntrinsic && c.HasExtrinsic {
			in, ex = append(in, c.Intrinsic), append(ex, c.Extrinsic)
		}
	}
	c, err := Spearman(in, ex)
	if err != nil {
		a.note("Intrinsic–extrinsic correlation skipped: %v", err)
		return
	}
	a.IntrinsicExtrinsic = &c
}

func (a *Analysis) alpha(res *score.Result) {
	alphas := res.Settings.Alphas
	if len(alphas) < 2 || len(res.Teachers) < 3 {
		a.note("α-robustness skipped: it needs at least 2 alphas and 3 teachers.")
		return
	}
	names := make([]string, len(res.Teachers))
	for i, t := range res.Teachers {
		names[i] = t.Teacher
	}
	vecs := make([][]float64, len(alphas))
	for i, al := range alphas {
		pg := res.TeacherPGAt(al)
		for _, n := range names {
			vecs[i] = append(vecs[i], pg[n])
		}
	}
	m := &AlphaMatrix{Alphas: alphas, Min: 1}
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
	a.AlphaRobustness = m
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
	if f, err := OLS(lp, pg1); err == nil {
		a.ScaleParams = &f
	} else {
		a.note("PG vs log10(parameters) skipped: %v (teachers with a parameter count: %d).", err, len(lp))
	}
	if f, err := OLS(bs, pg2); err == nil {
		a.ScaleStrength = &f
	} else {
		a.note("PG vs benchmark strength skipped: %v (teachers with a benchmark strength: %d).", err, len(bs))
	}
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
	fm := &FamilyMatch{Matched: len(m), Unmatched: len(u)}
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
		r := CostRow{Teacher: t.Teacher, CostUSD: info.CostUSD, Examples: info.Examples, PG: t.PG, Extrinsic: t.Extrinsic,
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

// controls compares each control with its reference data in every language, on every
// metric with a direction (designated or not), by the oriented raw value.
func (a *Analysis) controls(st *score.Study, res *score.Result) {
	dir := map[string]score.Direction{}
	for _, m := range res.Metrics {
		dir[m.Metric] = m.Direction
	}
	cells := map[[2]string]score.CellScore{}
	for _, c := range res.Controls {
		cells[[2]string{c.Teacher, c.Language}] = c
	}
	for _, ctl := range st.Controls {
		for _, lang := range res.Languages {
			cc, ok1 := cells[[2]string{ctl.Name, lang}]
			rc, ok2 := cells[[2]string{ctl.Reference, lang}]
			if !ok1 || !ok2 {
				continue
			}
			var names []string
			for n := range cc.Raw {
				if _, ok := rc.Raw[n]; ok && dir[n] != score.None {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			for _, n := range names {
				des := slices.ContainsFunc(ctl.CaughtBy, func(s string) bool { return score.Selects(s, n) })
				cv, rv := cc.Raw[n], rc.Raw[n]
				a.Controls = append(a.Controls, ControlCheck{Control: ctl.Name, Kind: ctl.Kind, Language: lang, Metric: n, Designated: des,
					ControlValue: cv, ReferenceValue: rv, Caught: score.Orient(n, dir[n], cv) < score.Orient(n, dir[n], rv)})
			}
		}
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
	if len(res.Teachers) > 0 {
		b := res.Teachers[0]
		var tied []string
		for _, t := range res.Teachers[1:] {
			if t.Standing == score.StandingIndistinguishable {
				tied = append(tied, t.Teacher)
			}
		}
		switch {
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
		if lb.Teacher != "" {
			switch {
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
			add("overall", "scale", "Teacher size predicts PG-Score here (slope %.3g per tenfold parameters, p = %.2g).", f.Slope, f.P)
		} else {
			add("overall", "scale", "Teacher size does not predict PG-Score here (slope %.3g per tenfold parameters, p = %.2g): do not pick the largest model by habit.", f.Slope, f.P)
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
		add("overall", "metrics", "The teacher ranking depends on α (lowest Spearman between rankings at different α: %.2f); report the α you chose.", m.Min)
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
