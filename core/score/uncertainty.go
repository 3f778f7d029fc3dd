package score

import (
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// tInterval is the Student-t interval of the mean; nil with fewer than two values.
func tInterval(xs []float64, conf float64) *Interval {
	n := len(xs)
	if n < 2 {
		return nil
	}
	m, sd := stat.MeanStdDev(xs, nil)
	h := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(0.5+conf/2) * sd / math.Sqrt(float64(n))
	return &Interval{Lo: m - h, Hi: m + h, Method: "t over seeds", N: n}
}

// percentile is the percentile bootstrap interval; nil without replicates.
func percentile(boot []float64, conf float64) *Interval {
	if len(boot) == 0 {
		return nil
	}
	s := append([]float64(nil), boot...)
	sort.Float64s(s)
	return &Interval{Lo: stat.Quantile((1-conf)/2, stat.Empirical, s, nil), Hi: stat.Quantile((1+conf)/2, stat.Empirical, s, nil),
		Method: "bootstrap over examples", N: len(boot)}
}

// bootstrap resamples the examples behind a cell's intrinsic metrics and returns the
// replicates of the cell's PG-Score. Each replicate redraws every metric of every seed:
// from its per-example values when present (the replicate value is the reported value
// shifted by the resample mean minus the sample mean), otherwise from a normal with the
// record's standard error. Pooling parameters stay those of the point estimate, so only
// the cell's own sampling noise is measured. Extrinsic parts are held fixed.
// It returns nil when the bootstrap is off or no metric carries uncertainty.
func (c *computer) bootstrap(us []*unit, p *pool) []float64 {
	B := c.s.Bootstrap
	if B == 0 || c.s.Alpha == 0 {
		return nil
	}
	has := false
	for _, u := range us {
		for _, name := range c.selected {
			if m, ok := u.metrics[name]; ok && (len(m.PerExample) > 0 || m.Stderr > 0) {
				has = true
			}
		}
	}
	if !has {
		return nil
	}
	rng := rand.New(rand.NewPCG(c.s.Seed, cellSeed(us[0].key.cell())))
	sampleMean := map[*MetricRecord]float64{}
	for _, u := range us {
		for _, m := range u.metrics {
			if len(m.PerExample) > 0 {
				sampleMean[m] = stat.Mean(m.PerExample, nil)
			}
		}
	}
	draw := func(m *MetricRecord) float64 {
		if n := len(m.PerExample); n > 0 {
			var s float64
			for range n {
				s += m.PerExample[rng.IntN(n)]
			}
			return m.Value + s/float64(n) - sampleMean[m]
		}
		if m.Stderr > 0 {
			return m.Value + rng.NormFloat64()*m.Stderr
		}
		return m.Value
	}
	out := make([]float64, B)
	for r := range B {
		var sum float64
		n := 0
		for _, u := range us {
			in, hasIn := u.in, u.hasIn
			if hasIn {
				in, _ = c.intrinsicRaw(u, p, draw)
				if c.s.Standardize == Restandardized {
					in = p.restd(in)
				}
			}
			if !hasIn && !u.hasEx {
				continue
			}
			sum += combine(c.s.Alpha, in, u.ex, hasIn, u.hasEx)
			n++
		}
		out[r] = sum / float64(n)
	}
	return out
}

// compare decides whether other can be told apart from best, by the first rule that has
// data: (1) a paired t-test over the seeds both share (at least two), two-sided at the
// confidence level; (2) the paired bootstrap difference of the replicates, whose percentile
// interval must exclude 0; (3) overlap of the two confidence intervals. Without any
// uncertainty information the answer is StandingUnknown.
func compare(bestSeeds, otherSeeds []SeedScore, bestBoot, otherBoot []float64, bestCI, otherCI *Interval, conf float64) (standing, test string) {
	bs := map[int]float64{}
	for _, s := range bestSeeds {
		bs[s.Seed] = s.PG
	}
	var d []float64
	for _, s := range otherSeeds {
		if v, ok := bs[s.Seed]; ok {
			d = append(d, v-s.PG)
		}
	}
	if len(d) >= 2 {
		m, sd := stat.MeanStdDev(d, nil)
		if sd == 0 {
			if m == 0 {
				return StandingIndistinguishable, "paired t over seeds (identical)"
			}
			return StandingWorse, "paired t over seeds (constant difference)"
		}
		iv := tInterval(d, conf)
		if iv.Lo <= 0 {
			return StandingIndistinguishable, "paired t over seeds"
		}
		return StandingWorse, "paired t over seeds"
	}
	if len(bestBoot) > 0 && len(bestBoot) == len(otherBoot) {
		diff := make([]float64, len(bestBoot))
		for i := range diff {
			diff[i] = bestBoot[i] - otherBoot[i]
		}
		if percentile(diff, conf).Lo <= 0 {
			return StandingIndistinguishable, "bootstrap difference"
		}
		return StandingWorse, "bootstrap difference"
	}
	if bestCI != nil && otherCI != nil {
		if otherCI.Hi >= bestCI.Lo {
			return StandingIndistinguishable, "overlapping intervals"
		}
		return StandingWorse, "overlapping intervals"
	}
	return StandingUnknown, "no uncertainty information"
}

// rankCells ranks cells within each (language, strategy) group and marks their standing.
func rankCells(cells []CellScore, conf float64) {
	groups := map[[2]string][]int{}
	for i, c := range cells {
		k := [2]string{c.Language, c.Strategy}
		groups[k] = append(groups[k], i)
	}
	for _, idx := range groups {
		sort.SliceStable(idx, func(a, b int) bool { return cells[idx[a]].PG > cells[idx[b]].PG })
		best := &cells[idx[0]]
		for r, i := range idx {
			c := &cells[i]
			c.Rank = r + 1
			if r == 0 {
				c.Standing, c.Test = StandingBest, ""
				continue
			}
			c.Standing, c.Test = compare(best.Seeds, c.Seeds, best.boot, c.boot, best.CI, c.CI, conf)
		}
	}
}

// rankTeachers sorts teachers best first and marks their standing.
func rankTeachers(ts []TeacherScore, conf float64) {
	sort.SliceStable(ts, func(a, b int) bool { return ts[a].PG > ts[b].PG })
	for i := range ts {
		ts[i].Rank = i + 1
		if i == 0 {
			ts[i].Standing = StandingBest
			continue
		}
		ts[i].Standing, ts[i].Test = compare(ts[0].Seeds, ts[i].Seeds, ts[0].boot, ts[i].boot, ts[0].CI, ts[i].CI, conf)
	}
}
