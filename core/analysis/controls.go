package analysis

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/polyglot-teachers/polyglot/core/score"
)

// MinControlEffect is the effect a control must show, as a share of the reference's
// value, when no interval can be computed (no per-example values, standard errors or
// repeated seeds: a set-level metric such as diversity measured once).
const MinControlEffect = 0.10

// ControlCheck says whether one metric put a negative control below the reference data.
type ControlCheck struct {
	Control        string  `json:"control"`
	Kind           string  `json:"kind,omitempty"`
	Language       string  `json:"language"`
	Metric         string  `json:"metric"`
	Designated     bool    `json:"designated"` // listed in the control's caught_by
	ControlValue   float64 `json:"control_value"`
	ReferenceValue float64 `json:"reference_value"`
	// Effect is control − reference in the metric's own units; RelEffect divides it by
	// |reference| (0 when the reference is 0). Worse says the effect points the way the
	// metric calls worse.
	Effect    float64 `json:"effect"`
	RelEffect float64 `json:"relative_effect"`
	Worse     bool    `json:"worse"`
	// CI is the confidence interval of Effect (nil when the data gives no uncertainty).
	CI *score.Interval `json:"ci,omitempty"`
	// Scale is "log(1+x)" when Effect and CI compare perplexities per example on the log
	// scale (their heavy tail would otherwise swamp any difference); "" = the metric's units.
	Scale string `json:"scale,omitempty"`
	// Pairs is the number of prompts compared one by one (a paired test); 0 = unpaired.
	Pairs int `json:"pairs,omitempty"`
	// Caught: worse, and the interval excludes zero; without an interval, worse by at
	// least MinControlEffect of the reference's value. Test says which rule decided.
	Caught bool   `json:"caught"`
	Test   string `json:"test"`
}

// sample summarises one side's values of a metric over its seeds.
type sample struct {
	mean float64
	se   float64 // standard error of mean; NaN = unknown
	df   float64 // degrees of freedom behind se
	n    int     // examples (or seeds) behind the mean
	how  string
}

// summarise builds the best available summary of a control or reference cell's metric:
// per-example values (pooled over seeds), else per-seed standard errors, else the spread
// over seeds, else the mean alone.
func summarise(recs []score.MetricRecord, tf func(float64) float64) sample {
	var pe, means []float64
	var ses []float64
	n := 0
	for _, r := range recs {
		for _, v := range r.PerExample {
			pe = append(pe, tf(v))
		}
		means = append(means, r.Value)
		if r.N > 1 && r.Stderr > 0 && len(r.PerExample) == 0 {
			ses = append(ses, r.Stderr)
			n += r.N
		}
	}
	m := stat.Mean(means, nil)
	switch {
	case len(pe) > 1 && len(pe) >= len(recs)*2:
		mu, v := stat.MeanVariance(pe, nil)
		return sample{mean: mu, se: math.Sqrt(v / float64(len(pe))), df: float64(len(pe) - 1), n: len(pe), how: "examples"}
	case len(ses) == len(recs) && len(ses) > 0:
		var s2 float64
		for _, s := range ses {
			s2 += s * s
		}
		return sample{mean: m, se: math.Sqrt(s2) / float64(len(ses)), df: float64(n - len(ses)), n: n, how: "standard errors"}
	case len(means) > 1:
		_, v := stat.MeanVariance(means, nil)
		return sample{mean: m, se: math.Sqrt(v / float64(len(means))), df: float64(len(means) - 1), n: len(means), how: "seeds"}
	}
	return sample{mean: m, se: math.NaN(), n: len(recs)}
}

// MinPairs is the fewest shared prompts for a paired comparison of a control with its
// reference; fewer (or under half of the smaller side) fall back to the unpaired test.
const MinPairs = 10

// keyed maps seed and prompt key to the mean per-example value of that prompt.
func keyed(recs []score.MetricRecord, tf func(float64) float64) map[string]float64 {
	sum, n := map[string]float64{}, map[string]int{}
	for _, r := range recs {
		if len(r.PerExampleKeys) != len(r.PerExample) {
			return nil
		}
		for i, k := range r.PerExampleKeys {
			kk := fmt.Sprint(r.Seed) + "/" + k
			sum[kk] += tf(r.PerExample[i])
			n[kk]++
		}
	}
	out := make(map[string]float64, len(sum))
	for k, s := range sum {
		out[k] = s / float64(n[k])
	}
	return out
}

// pairedCI is the t interval of the mean control − reference difference over the
// prompts both sides answered, or nil when too few are shared.
func pairedCI(c, r map[string]float64, conf float64) (mean float64, ci *score.Interval) {
	var d []float64
	for k, cv := range c {
		if rv, ok := r[k]; ok {
			d = append(d, cv-rv)
		}
	}
	if len(d) < MinPairs || 2*len(d) < min(len(c), len(r)) {
		return 0, nil
	}
	sort.Float64s(d) // a fixed order keeps the sums reproducible
	m, v := stat.MeanVariance(d, nil)
	se := math.Sqrt(v / float64(len(d)))
	if se == 0 {
		return m, &score.Interval{Lo: m, Hi: m, Method: "paired over prompts, no spread", N: len(d)}
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(d) - 1)}.Quantile(1 - (1-conf)/2)
	return m, &score.Interval{Lo: m - t*se, Hi: m + t*se, Method: "paired t over prompts", N: len(d)}
}

// effectCI is the Welch interval of a − b at the confidence level, or nil.
func effectCI(a, b sample, conf float64) *score.Interval {
	if math.IsNaN(a.se) || math.IsNaN(b.se) || a.how != b.how {
		return nil
	}
	qa, qb := a.se*a.se, b.se*b.se
	d := a.mean - b.mean
	if qa+qb == 0 {
		return &score.Interval{Lo: d, Hi: d, Method: "no spread in the " + a.how, N: a.n + b.n}
	}
	df := (qa + qb) * (qa + qb) / (qa*qa/math.Max(a.df, 1) + qb*qb/math.Max(b.df, 1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(1 - (1-conf)/2)
	h := t * math.Sqrt(qa+qb)
	return &score.Interval{Lo: d - h, Hi: d + h, Method: "Welch t over " + a.how, N: a.n + b.n}
}

// controls compares each control with its reference data in every language, on every
// metric with a direction (designated or not).
func (a *Analysis) controls(st *score.Study, res *score.Result) {
	dir := map[string]score.Direction{}
	for _, m := range res.Metrics {
		dir[m.Metric] = m.Direction
	}
	type key struct{ teacher, lang, metric string }
	recs := map[key][]score.MetricRecord{}
	names := map[[2]string]map[string]bool{}
	for _, m := range st.Metrics {
		if m.Strategy != "" || m.Direction == score.None || dir[m.Metric] == score.None {
			continue
		}
		k := key{m.Teacher, m.Language, m.Metric}
		recs[k] = append(recs[k], m)
		tl := [2]string{m.Teacher, m.Language}
		if names[tl] == nil {
			names[tl] = map[string]bool{}
		}
		names[tl][m.Metric] = true
	}
	conf := res.Settings.Confidence
	for _, ctl := range st.Controls {
		for _, lang := range res.Languages {
			var ms []string
			for n := range names[[2]string{ctl.Name, lang}] {
				if names[[2]string{ctl.Reference, lang}][n] {
					ms = append(ms, n)
				}
			}
			sort.Strings(ms)
			for _, n := range ms {
				cr, rr := recs[key{ctl.Name, lang, n}], recs[key{ctl.Reference, lang, n}]
				ident := func(x float64) float64 { return x }
				c, r := summarise(cr, ident), summarise(rr, ident)
				d := dir[n]
				if d == "" {
					d = recs[key{ctl.Name, lang, n}][0].Direction
				}
				ch := ControlCheck{Control: ctl.Name, Kind: ctl.Kind, Language: lang, Metric: n,
					Designated:   slices.ContainsFunc(ctl.CaughtBy, func(s string) bool { return score.Selects(s, n) }),
					ControlValue: c.mean, ReferenceValue: r.mean, Effect: c.mean - r.mean}
				if r.mean != 0 {
					ch.RelEffect = ch.Effect / math.Abs(r.mean)
				}
				sign := 1.0 // +1: higher is better, so a negative effect is worse
				if d == score.Lower {
					sign = -1
				}
				ch.Worse = sign*ch.Effect < 0
				// Per-example perplexities are compared on the log scale; prompts both
				// sides answered are compared one by one.
				tf, scale := ident, ""
				if score.IsPerplexity(n) {
					tf, scale = math.Log1p, "log(1+x)"
				}
				if m, ci := pairedCI(keyed(cr, tf), keyed(rr, tf), conf); ci != nil {
					ch.Effect, ch.CI, ch.Scale, ch.Pairs = m, ci, scale, ci.N
				} else if scale != "" && c.how == "examples" && r.how == "examples" {
					lc, lr := summarise(cr, tf), summarise(rr, tf)
					ch.Effect, ch.CI, ch.Scale = lc.mean-lr.mean, effectCI(lc, lr, conf), scale
				} else {
					ch.CI = effectCI(c, r, conf)
				}
				ch.Worse = sign*ch.Effect < 0
				if ch.CI != nil {
					excludes := (sign > 0 && ch.CI.Hi < 0) || (sign < 0 && ch.CI.Lo > 0)
					ch.Caught = ch.Worse && excludes
					on := ""
					if ch.Scale != "" {
						on = " on " + ch.Scale
					}
					ch.Test = fmt.Sprintf("%.0f %% interval (%s%s) excludes 0", conf*100, ch.CI.Method, on)
					if !excludes {
						ch.Test = fmt.Sprintf("%.0f %% interval (%s%s) includes 0", conf*100, ch.CI.Method, on)
					}
				} else {
					ch.Caught = ch.Worse && math.Abs(ch.RelEffect) >= MinControlEffect
					ch.Test = fmt.Sprintf("no interval (one value per side): worse by ≥ %.0f %% of the reference", MinControlEffect*100)
				}
				a.Controls = append(a.Controls, ch)
			}
		}
	}
}
