package analysis

import (
	"fmt"
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
	if p.CI == nil || !(p.CI.Lo > 0) || p.Scale != "log(1+x)" || p.Pairs != 0 || !strings.Contains(p.Test, "excludes 0") {
		t.Errorf("broken/ppl: effect %v, ci %+v, scale %q, test %q", p.Effect, p.CI, p.Scale, p.Test)
	}
	if d := got["broken/diversity.response"]; math.Abs(d.Effect-(d.ControlValue-d.ReferenceValue)) > 1e-12 || d.Scale != "" {
		t.Errorf("broken/diversity: effect %v is not control − reference", d.Effect)
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

// TestPairedControlCheck: a corruption that makes every answer a little worse (3 % in
// perplexity, with noise between prompts much larger than that) is invisible to an
// unpaired comparison of two cells, and plain to a paired one over the prompts both
// answered, which per-example keys make possible.
func TestPairedControlCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var ref, ctl []float64
	var keys []string
	for i := range 100 {
		v := math.Exp(3 + rng.NormFloat64()) // heavy-tailed, as perplexities are
		ref = append(ref, v)
		ctl = append(ctl, v*(1.03+0.01*rng.NormFloat64()))
		keys = append(keys, score.PairKey(fmt.Sprintf("prompt %d", i)))
	}
	build := func(withKeys bool) []ControlCheck {
		st := &score.Study{Controls: []score.Control{{Name: "scrambled", Reference: "human", CaughtBy: []string{"ppl"}}}}
		for _, tc := range []struct {
			name string
			v    []float64
		}{{"human", ref}, {"scrambled", ctl}} {
			r := score.MetricRecord{Teacher: tc.name, Language: "ja", Seed: 1, Metric: "ppl", Direction: score.Lower, PerExample: tc.v, N: len(tc.v)}
			for _, x := range tc.v {
				r.Value += x / float64(len(tc.v))
			}
			if withKeys {
				r.PerExampleKeys = keys
			}
			st.Metrics = append(st.Metrics, r)
		}
		s := score.DefaultSettings()
		s.Bootstrap = 0
		s.RankControls = true
		res, err := score.Compute(st, s)
		if err != nil {
			t.Fatal(err)
		}
		return Run(st, res, Options{}).Controls
	}
	if c := build(false)[0]; c.Caught || c.Pairs != 0 {
		t.Errorf("unpaired: caught = %v (ci %+v); the 3 %% shift is within the spread between prompts", c.Caught, c.CI)
	}
	c := build(true)[0]
	if !c.Caught || c.Pairs != 100 || c.CI == nil || c.CI.Lo <= 0 || !strings.Contains(c.Test, "paired") {
		t.Errorf("paired: caught = %v, pairs %d, ci %+v, test %q", c.Caught, c.Pairs, c.CI, c.Test)
	}
	if want := math.Log1p(ctl[0]) - math.Log1p(ref[0]); c.Effect < want/3 || c.Effect > 0.05 {
		t.Errorf("paired effect %v on log(1+PPL), want about 0.03", c.Effect)
	}
}
