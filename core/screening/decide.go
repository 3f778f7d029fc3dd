package screening

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Rule is how a stage decides whom to drop.
type Rule string

const (
	// Racing drops a teacher once its confidence interval lies wholly
	// below the interval of the group's best.
	Racing Rule = "racing"
	// Halving keeps the best share (Settings.Keep) of each group at each
	// stage, whatever the intervals say.
	Halving Rule = "halving"
)

// Scope is what a teacher is dropped from.
type Scope string

const (
	// PerLanguage decides within each language: a teacher may survive in
	// one language and be dropped in another.
	PerLanguage Scope = "language"
	// Overall decides on the teacher's mean over languages and drops it
	// from every language at once.
	Overall Scope = "overall"
)

// Settings are a screening's rule; the stage sizes live with the caller.
type Settings struct {
	Rule  Rule
	Scope Scope
	// MinKeep teachers stay in every group whatever the rule says.
	MinKeep int
	// Keep is the share of a group halving keeps at a stage (0.5: half).
	Keep float64
	// Confidence is the level of the intervals racing compares, in (0, 1).
	Confidence float64
}

// Defaults fills unset fields.
func (s Settings) Defaults() Settings {
	s.Rule = cmp.Or(s.Rule, Racing)
	s.Scope = cmp.Or(s.Scope, PerLanguage)
	if s.MinKeep < 1 {
		s.MinKeep = 1
	}
	if s.Keep <= 0 || s.Keep >= 1 {
		s.Keep = 0.5
	}
	if s.Confidence <= 0 || s.Confidence >= 1 {
		s.Confidence = 0.95
	}
	return s
}

// Candidate is one teacher of a group at a stage: its score on the
// stage's data and the interval around it. HasCI false means the score
// carries no uncertainty information; racing never drops such a teacher.
type Candidate struct {
	Teacher string
	Mean    float64
	Lo, Hi  float64
	HasCI   bool
	N       int // examples behind the score
}

// Verdict is what a stage decided about one candidate, with the evidence.
type Verdict struct {
	Candidate
	Group   string `json:"group"` // the language, or "" for an overall decision
	Rank    int    `json:"rank"`  // 1 = best of the group at this stage
	Dropped bool   `json:"dropped"`
	// Reason says on which evidence the teacher was dropped or kept.
	Reason string `json:"reason"`
	// Best is the group's best teacher at this stage and its interval.
	Best           string  `json:"best"`
	BestLo, BestHi float64 `json:"-"`
}

// Decide applies the rule to one group's candidates and returns a verdict
// for each, best first. Ties in the score are broken by teacher name so
// that the outcome is the same on every run.
func Decide(s Settings, group string, cands []Candidate) []Verdict {
	s = s.Defaults()
	vs := make([]Verdict, len(cands))
	for i, c := range cands {
		vs[i] = Verdict{Candidate: c, Group: group}
	}
	slices.SortStableFunc(vs, func(a, b Verdict) int {
		if a.Mean != b.Mean {
			return cmp.Compare(b.Mean, a.Mean)
		}
		return cmp.Compare(a.Teacher, b.Teacher)
	})
	if len(vs) == 0 {
		return vs
	}
	best := vs[0]
	for i := range vs {
		vs[i].Rank = i + 1
		vs[i].Best, vs[i].BestLo, vs[i].BestHi = best.Teacher, best.Lo, best.Hi
	}
	keep := len(vs)
	switch s.Rule {
	case Halving:
		keep = max(s.MinKeep, int(math.Ceil(float64(len(vs))*s.Keep)))
		for i := range vs {
			if i >= keep {
				vs[i].Dropped = true
				vs[i].Reason = fmt.Sprintf("rank %d of %d; halving keeps %d", i+1, len(vs), keep)
			} else {
				vs[i].Reason = fmt.Sprintf("rank %d of %d; halving keeps %d", i+1, len(vs), keep)
			}
		}
	default:
		for i := range vs {
			v := &vs[i]
			switch {
			case i == 0:
				v.Reason = "best of the stage"
			case !v.HasCI || !best.HasCI:
				v.Reason = "no interval to compare: kept"
			case v.Hi < best.Lo:
				v.Dropped = true
				v.Reason = fmt.Sprintf("interval [%.3g, %.3g] lies below %s's [%.3g, %.3g]", v.Lo, v.Hi, best.Teacher, best.Lo, best.Hi)
			default:
				v.Reason = fmt.Sprintf("interval [%.3g, %.3g] overlaps %s's [%.3g, %.3g]", v.Lo, v.Hi, best.Teacher, best.Lo, best.Hi)
			}
		}
		// The minimum kept: the best of the would-be dropped stay, in
		// rank order (a dropped teacher always ranks below every kept one).
		kept := 0
		for _, v := range vs {
			if !v.Dropped {
				kept++
			}
		}
		for i := range vs {
			if kept >= s.MinKeep {
				break
			}
			if vs[i].Dropped {
				vs[i].Dropped = false
				vs[i].Reason += fmt.Sprintf("; kept: min_keep = %d", s.MinKeep)
				kept++
			}
		}
	}
	return vs
}

// MeanInterval is the mean of per-example scores with its Student-t
// interval at level conf; ok is false with fewer than two values.
func MeanInterval(xs []float64, conf float64) (c Candidate, ok bool) {
	n := len(xs)
	if n == 0 {
		return c, false
	}
	m, sd := stat.MeanStdDev(xs, nil)
	c = Candidate{Mean: m, Lo: m, Hi: m, N: n}
	if n < 2 {
		return c, false
	}
	h := tQuantile(n-1, conf) * sd / math.Sqrt(float64(n))
	c.Lo, c.Hi, c.HasCI = m-h, m+h, true
	return c, true
}

// tQuantiles caches Student-t quantiles: a stage asks for the same few
// (degrees of freedom, level) pairs for every cell, and inverting the
// incomplete beta function costs more than the rest of a decision.
var tQuantiles sync.Map // [2]float64{nu, conf} -> float64

func tQuantile(nu int, conf float64) float64 {
	k := [2]float64{float64(nu), conf}
	if q, ok := tQuantiles.Load(k); ok {
		return q.(float64)
	}
	q := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(nu)}.Quantile(0.5 + conf/2)
	tQuantiles.Store(k, q)
	return q
}

// z is the two-sided normal quantile of a confidence level.
func z(conf float64) float64 {
	return distuv.UnitNormal.Quantile(0.5 + conf/2)
}

// Combine is a teacher's candidate for an overall decision: the mean of
// its language cells, with an interval from their half-widths read as
// normal standard errors (the cells' data are independent). The result
// has an interval only when every cell has one.
func Combine(teacher string, cells []Candidate, conf float64) Candidate {
	out := Candidate{Teacher: teacher, HasCI: len(cells) > 0}
	if len(cells) == 0 {
		return out
	}
	zc := z(conf)
	var sum, v float64
	for _, c := range cells {
		sum += c.Mean
		se := (c.Hi - c.Lo) / (2 * zc)
		v += se * se
		out.HasCI = out.HasCI && c.HasCI
		out.N += c.N
	}
	k := float64(len(cells))
	out.Mean = sum / k
	h := zc * math.Sqrt(v) / k
	out.Lo, out.Hi = out.Mean-h, out.Mean+h
	return out
}
