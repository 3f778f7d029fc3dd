package analysis

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/score/scoretest"
)

// alphaResult builds a result whose cells are dominated by a language effect shared by
// both parts, while within each language the teachers' intrinsic and extrinsic order are
// opposite: the cell ranking barely moves with α, the ranking of teacher averages flips.
func alphaResult() *score.Result {
	res := &score.Result{Settings: score.DefaultSettings()}
	langs := []string{"ar", "cs", "de", "es", "id"}
	for li, l := range langs {
		for i := range 4 {
			off := 10 * float64(li)
			res.Cells = append(res.Cells, score.CellScore{Teacher: scoretest.TeacherName(i), Language: l,
				HasIntrinsic: true, HasExtrinsic: true, Intrinsic: off + 0.1*float64(i), Extrinsic: off - 0.1*float64(i)})
		}
	}
	for i := range 4 {
		res.Teachers = append(res.Teachers, score.TeacherScore{Teacher: scoretest.TeacherName(i)})
	}
	res.Languages = langs
	return res
}

// TestAlphaRobustnessOverCells: the study computes α-robustness over all teacher ×
// language cells. Here the cell rankings at α = 0 and 1 agree (ρ ≈ 0.92) while teacher
// averages reverse (ρ = −1); both are reported, labelled, and the advice follows the
// cells, so no "depends on α" warning is given.
func TestAlphaRobustnessOverCells(t *testing.T) {
	a := Run(&score.Study{}, alphaResult(), Options{})
	c, tm := a.AlphaRobustness, a.AlphaTeachers
	if c == nil || tm == nil {
		t.Fatalf("α matrices missing: cells %v teachers %v; notes %v", c, tm, a.Notes)
	}
	if c.Level != "cells" || c.N != 20 || tm.Level != "teachers" || tm.N != 4 {
		t.Errorf("levels/n: cells %q %d, teachers %q %d", c.Level, c.N, tm.Level, tm.N)
	}
	// 5 groups of 4 reversed within each group: Σd² = 5·20, ρ = 1 − 6·100/(20·399).
	if want := 1 - 600.0/(20*399); math.Abs(c.Min-want) > 1e-12 {
		t.Errorf("cell-level min ρ = %v, want %v", c.Min, want)
	}
	if tm.Min != -1 {
		t.Errorf("teacher-level min ρ = %v, want −1", tm.Min)
	}
	for _, r := range a.Recommendations {
		if strings.Contains(r.Text, "depends on α") {
			t.Errorf("advice based on teacher averages: %q", r.Text)
		}
	}
	// The other way round: cells reversed within a constant language → cell level warns.
	res := alphaResult()
	for i := range res.Cells {
		res.Cells[i].Intrinsic -= 10 * float64(i/4)
		res.Cells[i].Extrinsic -= 10 * float64(i/4)
	}
	a = Run(&score.Study{}, res, Options{})
	found := false
	for _, r := range a.Recommendations {
		found = found || strings.Contains(r.Text, "20 teacher × language cells depends on α")
	}
	if !found {
		t.Errorf("no cell-level α warning when cell rankings reverse: %+v", a.Recommendations)
	}
}

// TestTooFewPointsRefused: with three teachers a slope of PG on size has one degree of
// freedom; the analysis is refused with its n and minimum, and no advice is drawn from it.
func TestTooFewPointsRefused(t *testing.T) {
	st := scoretest.Study(scoretest.Config{Teachers: 3, Languages: []string{"de", "es"}, Seed: 4})
	for i := range st.Teachers {
		st.Teachers[i].Parameters = math.Pow(10, 9+float64(2-i)) // largest = best: a perfect slope
	}
	s := score.DefaultSettings()
	s.Bootstrap = 0
	res, err := score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	a := Run(st, res, Options{})
	if a.ScaleParams != nil || a.ScaleStrength != nil {
		t.Errorf("scale fits ran on %d teachers: %+v", len(res.Teachers), a.ScaleParams)
	}
	notes := strings.Join(a.Notes, "\n")
	for _, want := range []string{"PG vs log10(parameters) skipped: 3 teachers have it; at least 6", "over teacher averages skipped: 3 teachers; at least 4"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	for _, r := range a.Recommendations {
		if r.Kind == "scale" {
			t.Errorf("advice from a refused analysis: %q", r.Text)
		}
	}
}

// TestStudyPCA: the study's six raw features (perplexity not logged, lengths included),
// a set number of components, and regressions of the raw student benchmark score and of
// PGR, each in-sample and held out.
func TestStudyPCA(t *testing.T) {
	st := scoretest.Study(scoretest.Config{Teachers: 10, Languages: []string{"ar", "cs", "de", "es", "id", "ja"}, Seed: 5})
	s := score.DefaultSettings()
	s.Bootstrap = 0
	s.Metrics = []string{"diversity", "judge", "ppl"}
	res, err := score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	a := Run(st, res, Options{PCA: PCAStudy, Components: 4, Seed: 1})
	p := a.PCA
	if p == nil {
		t.Fatalf("no PCA: %v", a.Notes)
	}
	want := []string{"diversity.prompt", "diversity.response", "ppl", "judge", "length.prompt", "length.response"}
	if !slices.Equal(p.Features, want) || p.Set != PCAStudy || p.N != 60 || p.Components != 4 || p.ComponentsRule != "set" {
		t.Fatalf("PCA %v set %q n %d k %d (%s)", p.Features, p.Set, p.N, p.Components, p.ComponentsRule)
	}
	// The PCA is that of the raw cell values.
	var raw [][]float64
	for _, c := range res.Cells {
		var r []float64
		for _, f := range want {
			r = append(r, c.Raw[f])
		}
		raw = append(raw, r)
	}
	ref, err := PCAOf(raw, want, true)
	if err != nil {
		t.Fatal(err)
	}
	for k := range ref.Explained {
		if math.Abs(ref.Explained[k]-p.Explained[k]) > 1e-12 {
			t.Fatalf("explained %v, want %v (raw features)", p.Explained, ref.Explained)
		}
	}
	scored := Run(st, res, Options{Seed: 1}).PCA
	if math.Abs(scored.Explained[0]-p.Explained[0]) < 1e-9 {
		t.Error("the study's PCA equals the scored one; perplexity should enter raw")
	}
	if len(a.Regressions) != 2 || a.Regressions[0].Target != TargetBenchmark || a.Regressions[1].Target != TargetPGR {
		t.Fatalf("regressions %+v", a.Regressions)
	}
	// The benchmark target is the student's mean raw score per cell.
	var y []float64
	for _, c := range res.Cells {
		var sum float64
		n := 0
		for _, b := range st.Benchmarks {
			if b.Role == score.RoleStudent && b.Teacher == c.Teacher && b.Language == c.Language && b.Strategy == "" {
				sum += b.Score
				n++
			}
		}
		y = append(y, sum/float64(n))
	}
	r, err := RegressOnComponents(raw, y, 4, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := a.Regressions[0]
	if got.K != 4 || got.N != 60 || math.Abs(got.InSampleR2-r.InSampleR2) > 1e-12 || math.Abs(got.HeldOutR2-r.HeldOutR2) > 1e-12 {
		t.Errorf("benchmark regression %+v, want %+v", got, *r)
	}
	if got.MinN != MinRegressionCells(4, 5) || got.MinN > got.N {
		t.Errorf("min n %d", got.MinN)
	}
}
