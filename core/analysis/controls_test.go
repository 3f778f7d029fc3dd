package analysis

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/score"
)

// controlStudy holds human reference data and two controls in one language: "slight"
// is 0.5 % worse in perplexity (per-example values, so an interval exists) and 3 %
// worse in response diversity (one value per side); "broken" is far worse in both.
func controlStudy(t *testing.T) (*score.Study, *score.Result) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	ref := make([]float64, 200)
	for i := range ref {
		ref[i] = 20 + 5*rng.NormFloat64()
	}
	shift := func(d float64) []float64 {
		out := make([]float64, len(ref))
		for i, v := range ref {
			out[i] = v + d + 5*rng.NormFloat64()
		}
		return out
	}
	mean := func(x []float64) float64 {
		var s float64
		for _, v := range x {
			s += v
		}
		return s / float64(len(x))
	}
	st := &score.Study{Controls: []score.Control{
		{Name: "slight", Kind: "scramble_words", Reference: "human", CaughtBy: []string{"ppl", "diversity"}},
		{Name: "broken", Kind: "scramble_words", Reference: "human", CaughtBy: []string{"ppl", "diversity"}},
	}}
	add := func(teacher string, ppl []float64, div float64) {
		st.Metrics = append(st.Metrics,
			score.MetricRecord{Teacher: teacher, Language: "ja", Seed: 1, Metric: "ppl", Value: mean(ppl), Direction: score.Lower, PerExample: ppl, N: len(ppl)},
			score.MetricRecord{Teacher: teacher, Language: "ja", Seed: 1, Metric: "diversity.response", Value: div, Direction: score.Higher, N: len(ppl)})
	}
	add("human", ref, 0.31)
	slight := make([]float64, len(ref))
	for i, v := range ref {
		slight[i] = v * 1.005
	}
	add("slight", slight, 0.30)
	add("broken", shift(15), 0.12)
	s := score.DefaultSettings()
	s.Bootstrap = 0
	s.RankControls = true
	res, err := score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	return st, res
}

// TestControlCaughtMeansSignificant: a control 0.5 % worse than the reference is not
// "caught" — its interval includes zero, or without an interval it is below the stated
// effect size — while a clearly broken control is, with its effect and interval shown.
func TestControlCaughtMeansSignificant(t *testing.T) {
	st, res := controlStudy(t)
	a := Run(st, res, Options{})
	got := map[string]ControlCheck{}
	for _, c := range a.Controls {
		got[c.Control+"/"+c.Metric] = c
	}
	for k, want := range map[string]bool{"slight/ppl": false, "slight/diversity.response": false, "broken/ppl": true, "broken/diversity.response": true} {
		c, ok := got[k]
		if !ok {
			t.Fatalf("no check %s: %+v", k, a.Controls)
		}
		if c.Caught != want {
			t.Errorf("%s caught = %v, want %v (effect %v, ci %+v, %s)", k, c.Caught, want, c.Effect, c.CI, c.Test)
		}
		if !c.Worse {
			t.Errorf("%s: the control is worse, Worse = false", k)
		}
	}
	p := got["broken/ppl"]
	if p.CI == nil || !(p.CI.Lo > 0) || math.Abs(p.Effect-(p.ControlValue-p.ReferenceValue)) > 1e-12 || !strings.Contains(p.Test, "excludes 0") {
		t.Errorf("broken/ppl: effect %v, ci %+v, test %q", p.Effect, p.CI, p.Test)
	}
	if s := got["slight/ppl"]; s.CI == nil || s.CI.Lo > 0 || s.CI.Hi < 0 {
		t.Errorf("slight/ppl: the interval of a 0.5 %% shift should include 0: %+v", s.CI)
	}
	if d := got["slight/diversity.response"]; d.CI != nil || !strings.Contains(d.Test, "no interval") || math.Abs(d.RelEffect-(-0.01/0.31)) > 1e-12 {
		t.Errorf("slight/diversity: ci %+v, test %q, relative effect %v", d.CI, d.Test, d.RelEffect)
	}
}

// TestNoRecommendationPrefersAControl: when the metrics miss a control so that it ranks
// first, the report warns instead of advising to use it.
func TestNoRecommendationPrefersAControl(t *testing.T) {
	st := &score.Study{Controls: []score.Control{{Name: "scrambled", Kind: "scramble_words", Reference: "human", CaughtBy: []string{"judge"}}}}
	for i, tc := range []struct {
		teacher string
		judge   float64
	}{{"human", 3.0}, {"scrambled", 4.5}, {"other", 2.0}} {
		for _, lang := range []string{"ja", "de"} {
			for seed := 1; seed <= 3; seed++ {
				st.Metrics = append(st.Metrics, score.MetricRecord{Teacher: tc.teacher, Language: lang, Seed: seed, Metric: "judge",
					Value: tc.judge + 0.01*float64(seed+i), Direction: score.Higher})
			}
		}
	}
	s := score.DefaultSettings()
	s.Bootstrap = 0
	s.RankControls = true
	res, err := score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Teachers[0].Teacher != "scrambled" {
		t.Fatalf("set-up: the control should rank first, ranking %+v", res.Teachers)
	}
	a := Run(st, res, Options{})
	warned := 0
	for _, r := range a.Recommendations {
		if strings.Contains(r.Text, "scrambled") && r.Kind != "controls" {
			t.Errorf("a %s recommendation names the control: %q", r.Kind, r.Text)
		}
		if r.Kind == "controls" && strings.Contains(r.Text, "negative control scrambled scores highest") {
			warned++
		}
	}
	if warned != 3 { // overall, ja, de
		t.Errorf("%d warnings that the control ranks first, want 3: %+v", warned, a.Recommendations)
	}
}
