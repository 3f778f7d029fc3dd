package score

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

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

// bootPlan is one cell's bootstrap, flattened so that drawing a replicate does no map
// lookup or allocation.
type bootPlan struct {
	alpha      float64
	restd      bool
	pool       *pool // for the restandardized variant's second stage
	units      []bootUnit
	seed1      uint64 // the settings' seed
	seed2      uint64 // derived from the cell
	replicates int
}

type bootUnit struct {
	metrics      []bootMetric // the selected metrics the unit has, in c.selected order
	hasIn, hasEx bool
	ex           float64
}

type bootMetric struct {
	per        []float64 // per-example values; empty = draw from the standard error
	value      float64
	sampleMean float64
	stderr     float64
	ppl        bool // perplexity; see Orient
	dir        Direction
	mean, sd   float64 // pooling parameters; sd == 0 makes the z-score 0
}

// bootPlan plans the bootstrap of a cell, whose replicates are the cell's PG-Score
// with the examples behind its intrinsic metrics resampled. Each replicate redraws every
// metric of every seed: from its per-example values when present (the replicate value is
// the reported value shifted by the resample mean minus the sample mean), otherwise from
// a normal with the record's standard error. Pooling parameters stay those of the point
// estimate, so only the cell's own sampling noise is measured. Extrinsic parts are held
// fixed. It returns nil when the bootstrap is off or no metric carries uncertainty.
func (c *computer) bootPlan(us []*unit, p *pool) *bootPlan {
	B := c.s.Bootstrap
	if B == 0 || c.s.Alpha == 0 {
		return nil
	}
	has := false
	bp := &bootPlan{alpha: c.s.Alpha, restd: c.s.Standardize == Restandardized, pool: p,
		seed1: c.s.Seed, seed2: cellSeed(us[0].key.cell()), replicates: B}
	for _, u := range us {
		bu := bootUnit{hasIn: u.hasIn, hasEx: u.hasEx, ex: u.ex}
		if u.hasIn {
			for _, name := range c.selected {
				m, ok := u.metrics[name]
				if !ok {
					continue
				}
				bm := bootMetric{per: m.PerExample, value: m.Value, stderr: m.Stderr, ppl: IsPerplexity(name), dir: m.Direction,
					mean: p.mean[name], sd: p.sd[name]}
				if len(m.PerExample) > 0 {
					bm.sampleMean = stat.Mean(m.PerExample, nil)
				}
				if len(m.PerExample) > 0 || m.Stderr > 0 {
					has = true
				}
				bu.metrics = append(bu.metrics, bm)
			}
		}
		bp.units = append(bp.units, bu)
	}
	if !has {
		return nil
	}
	return bp
}

// bootBlock is how many replicates share one random stream. Blocks, not workers, own
// streams, so the replicates do not depend on how many cores draw them.
const bootBlock = 100

// runBoot draws every plan's replicates into outs (outs[i] has plans[i].replicates
// values), on up to workers goroutines. The result is the same for any workers.
func runBoot(plans []*bootPlan, outs [][]float64, workers int) {
	type job struct {
		plan  *bootPlan
		out   []float64
		block int
	}
	var jobs []job
	for i, bp := range plans {
		for b := 0; b*bootBlock < bp.replicates; b++ {
			jobs = append(jobs, job{bp, outs[i][b*bootBlock : min((b+1)*bootBlock, bp.replicates)], b})
		}
	}
	workers = max(1, min(workers, len(jobs)))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				j.plan.draw(j.out, j.block)
			}
		})
	}
	wg.Wait()
}

// draw fills out with the replicates of one block.
func (bp *bootPlan) draw(out []float64, block int) {
	src := rand.NewPCG(bp.seed1, splitmix64(bp.seed2+uint64(block)))
	rng := rand.New(src)
	for r := range out {
		var sum float64
		n := 0
		for i := range bp.units {
			u := &bp.units[i]
			in := 0.0
			if u.hasIn {
				var zs float64
				for j := range u.metrics {
					m := &u.metrics[j]
					v := m.value
					switch {
					case len(m.per) > 0:
						v = m.value + resampleSum(src, rng, m.per)/float64(len(m.per)) - m.sampleMean
					case m.stderr > 0:
						v = m.value + rng.NormFloat64()*m.stderr
					}
					if m.sd != 0 {
						zs += (orient(m.ppl, m.dir, v) - m.mean) / m.sd
					}
				}
				in = zs / float64(len(u.metrics))
				if bp.restd {
					in = bp.pool.restd(in)
				}
			}
			if !u.hasIn && !u.hasEx {
				continue
			}
			sum += combine(bp.alpha, in, u.ex, u.hasIn, u.hasEx)
			n++
		}
		out[r] = sum / float64(n)
	}
}

// resampleSum returns the sum of len(xs) values drawn from xs with replacement.
// The indices come several to a 64-bit word, each from its own k-bit field by Lemire's
// multiply-and-shift with rejection, so they are exactly uniform; several running sums
// keep the additions from waiting on each other.
func resampleSum(src *rand.PCG, rng *rand.Rand, xs []float64) float64 {
	n := uint64(len(xs))
	k := fieldBits(n)
	if k == 0 {
		var s float64
		for range n {
			s += xs[rng.Uint64N(n)]
		}
		return s
	}
	mask := uint64(1)<<k - 1
	// With m = x·n for a k-bit x, m>>k is uniform on [0, n) once m's low k bits
	// below 2^k mod n are rejected.
	thresh := (mask + 1) % n
	var a, b, c, d float64
	i := uint64(0)
	switch k {
	case 16:
		// n <= 2^16, so a 16-bit field times n fits in 32 bits: one multiply
		// scales fields 0 and 2 (or 1 and 3) at once without the products overlapping.
		const pair = 0x0000ffff_0000ffff
		// x·n>>16 < n for every 16-bit x, so each index is within xs; reading it
		// unchecked saves the bounds test (~10% of the paper-scale CPU).
		base := unsafe.Pointer(unsafe.SliceData(xs))
		at := func(j uint32) float64 { return *(*float64)(unsafe.Add(base, uintptr(j)*8)) }
		for i+4 <= n {
			w := src.Uint64()
			p02, p13 := (w&pair)*n, (w>>16&pair)*n
			m0, m1, m2, m3 := uint32(p02), uint32(p13), uint32(p02>>32), uint32(p13>>32)
			if m0&0xffff >= uint32(thresh) {
				a += at(m0 >> 16)
				i++
			}
			if m1&0xffff >= uint32(thresh) {
				b += at(m1 >> 16)
				i++
			}
			if m2&0xffff >= uint32(thresh) {
				c += at(m2 >> 16)
				i++
			}
			if m3&0xffff >= uint32(thresh) {
				d += at(m3 >> 16)
				i++
			}
		}
	case 21:
		for i+3 <= n {
			w := src.Uint64()
			m0, m1, m2 := (w&mask)*n, (w>>21&mask)*n, (w>>42&mask)*n
			if m0&mask >= thresh {
				a += xs[m0>>21]
				i++
			}
			if m1&mask >= thresh {
				b += xs[m1>>21]
				i++
			}
			if m2&mask >= thresh {
				c += xs[m2>>21]
				i++
			}
		}
	case 32:
		for i+2 <= n {
			w := src.Uint64()
			m0, m1 := (w&mask)*n, (w>>32)*n
			if m0&mask >= thresh {
				a += xs[m0>>32]
				i++
			}
			if m1&mask >= thresh {
				b += xs[m1>>32]
				i++
			}
		}
	}
	for i < n {
		w := src.Uint64()
		for f := uint(0); f+k <= 64 && i < n; f += k {
			m := (w >> f & mask) * n
			if m&mask >= thresh {
				d += xs[m>>k]
				i++
			}
		}
	}
	return a + b + c + d
}

// fieldBits is the narrowest width of 16, 21 or 32 bits whose fields draw indices in
// [0, n) with a rejection rate (2^k mod n)/2^k under 1/32; 0 when none does (n > 2^27).
func fieldBits(n uint64) uint {
	for _, k := range []uint{16, 21, 32} {
		if n <= 1<<k && (1<<k)%n <= 1<<(k-5) {
			return k
		}
	}
	return 0
}

// splitmix64 scrambles a stream number into a well-spread PCG seed.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
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
