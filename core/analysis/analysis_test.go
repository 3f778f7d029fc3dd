package analysis

import (
	"math"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/score/scoretest"
)

func run(t *testing.T, cfg scoretest.Config, mod func(*score.Settings)) (*score.Study, *score.Result, *Analysis) {
	t.Helper()
	st := scoretest.Study(cfg)
	s := score.DefaultSettings()
	s.Bootstrap = 0
	if mod != nil {
		mod(&s)
	}
	res, err := score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	return st, res, Run(st, res, Options{Seed: 1})
}

func TestRunFullStudy(t *testing.T) {
	st, res, a := run(t, scoretest.Config{Teachers: 6, Languages: []string{"ar", "cs", "de", "es", "id", "ja"}, Seeds: []int{1, 2, 3},
		Strategies: []string{"generate", "respond", "translate"}, Students: []string{"olmo", "gemma"}, Controls: true, Seed: 2}, nil)
	if a.PCA == nil || len(a.Regressions) != 2 || a.IntrinsicExtrinsic == nil || a.AlphaRobustness == nil || a.ScaleParams == nil || a.ScaleStrength == nil || a.Family == nil {
		t.Fatalf("an analysis did not run; notes: %v", a.Notes)
	}
	// Six metrics present in every cell: diversity ×2, judge, ppl, length ×2.
	if len(a.PCA.Features) != 6 || math.Abs(a.PCA.Cumulative[5]-1) > 1e-9 {
		t.Errorf("PCA features %v cumulative %v", a.PCA.Features, a.PCA.Cumulative)
	}
	// The synthetic metrics all follow teacher quality, so PC1 dominates.
	if a.PCA.Explained[0] < 0.5 {
		t.Errorf("PC1 explains %.2f, expected a dominant first component", a.PCA.Explained[0])
	}
	for _, r := range a.Regressions {
		if r.HeldOutR2 > r.InSampleR2+1e-12 {
			t.Errorf("%s: held-out R² %.3f above in-sample %.3f", r.Target, r.HeldOutR2, r.InSampleR2)
		}
	}
	if a.IntrinsicExtrinsic.Rho < 0.5 {
		t.Errorf("intrinsic–extrinsic ρ = %.2f; the synthetic study ties both to quality", a.IntrinsicExtrinsic.Rho)
	}
	m := a.AlphaRobustness
	for i := range m.Rho {
		if m.Rho[i][i] != 1 {
			t.Errorf("α matrix diagonal %v", m.Rho[i][i])
		}
		for j := range m.Rho {
			if m.Rho[i][j] != m.Rho[j][i] {
				t.Errorf("α matrix not symmetric at %d,%d", i, j)
			}
		}
	}
	if len(a.BestByLanguage) != 6 {
		t.Fatalf("best by language: %d rows", len(a.BestByLanguage))
	}
	for _, lb := range a.BestByLanguage {
		if lb.Teacher != scoretest.TeacherName(0) && !contains(lb.Indistinguishable, scoretest.TeacherName(0)) {
			t.Errorf("%s: best %s, and the truly best teacher is not in the indistinguishable set %v", lb.Language, lb.Teacher, lb.Indistinguishable)
		}
		if lb.Strategy == "" || lb.StrategyTeacher == "" {
			t.Errorf("%s: no best strategy", lb.Language)
		}
	}
	if len(a.Cost) != 6 {
		t.Errorf("cost rows %d", len(a.Cost))
	}
	for _, c := range a.Cost {
		info := st.Teacher(c.Teacher)
		if math.Abs(c.PGPerDollar-c.PG/info.CostUSD) > 1e-12 {
			t.Errorf("PG per dollar of %s", c.Teacher)
		}
	}
	// The scrambled control has low quality on every metric: all designated metrics catch it.
	caught := 0
	for _, c := range a.Controls {
		if c.Designated {
			if !c.Caught {
				t.Errorf("%s/%s: %s did not catch it (control %v, reference %v)", c.Control, c.Language, c.Metric, c.ControlValue, c.ReferenceValue)
			}
			caught++
		}
	}
	if caught != 12 { // ppl and judge × 6 languages
		t.Errorf("designated control checks = %d, want 12", caught)
	}
	// Recommendations name real teachers and languages, and numbers that match the result.
	var all string
	for _, r := range a.Recommendations {
		all += r.Text + "\n"
	}
	for _, want := range []string{res.Teachers[0].Teacher, "For ar,", "strategy gives the highest mean PG", "Teacher size"} {
		if !strings.Contains(all, want) {
			t.Errorf("recommendations lack %q:\n%s", want, all)
		}
	}
}

func TestRecommendationsFollowTheData(t *testing.T) {
	// One seed, no per-example values: the recommendations must say the ranking is uncertain.
	_, _, a := run(t, scoretest.Config{Teachers: 3, Languages: []string{"tl"}, Seed: 9}, nil)
	found := false
	for _, r := range a.Recommendations {
		if r.Kind == "uncertain" && strings.Contains(r.Text, "tl") {
			found = true
		}
	}
	if !found {
		t.Errorf("no 'uncertain' recommendation for a one-seed study: %+v", a.Recommendations)
	}
	// A control that designated metrics do not catch is reported.
	st := scoretest.Study(scoretest.Config{Teachers: 3, Languages: []string{"de"}, Controls: true, Seed: 3})
	for i := range st.Metrics {
		if st.Metrics[i].Teacher == "scrambled" && st.Metrics[i].Metric == "ppl" {
			st.Metrics[i].Value = 1 // a perfect perplexity: ppl misses the corruption
		}
	}
	res, err := score.Compute(st, score.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	a = Run(st, res, Options{})
	found = false
	for _, r := range a.Recommendations {
		if r.Kind == "controls" && strings.Contains(r.Text, "ppl (de)") {
			found = true
		}
	}
	if !found {
		t.Errorf("missed control not reported: %+v", a.Recommendations)
	}
}

func TestHandStudyAnalyses(t *testing.T) {
	st, err := score.ImportFile("../score/testdata/hand.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	res, err := score.Compute(st, score.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	a := Run(st, res, Options{})
	// Two teachers: no α-robustness over teachers, no scale fits, one student family; each
	// is explained. The four cells are enough for the cell-level α matrix.
	if a.AlphaTeachers != nil || a.ScaleParams != nil || a.Family != nil || a.AlphaRobustness == nil {
		t.Error("analyses ran without enough data")
	}
	if len(a.Notes) < 3 {
		t.Errorf("notes = %v", a.Notes)
	}
	var anchor bool
	for _, r := range a.Recommendations {
		if r.Kind == "anchor" && r.Scope == "y" && strings.Contains(r.Text, "b1") {
			anchor = true
		}
	}
	if !anchor {
		t.Errorf("the reference-below-base benchmark is not in the recommendations: %+v", a.Recommendations)
	}
	// Cost: A spent $2 for PG 0.5048568 (α = .5, see score's TestHandStudy).
	for _, c := range a.Cost {
		if c.Teacher == "A" && math.Abs(c.PGPerDollar-(1/math.Sqrt(5)+0.3125+0.25)/2/2) > 1e-9 {
			t.Errorf("A PG per dollar = %v", c.PGPerDollar)
		}
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
