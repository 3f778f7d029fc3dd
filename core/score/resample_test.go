package score

import (
	"math"
	"math/rand/v2"
	"testing"
)

// resampleSum must draw every index with the same probability, on each of its paths
// (four, three or two indices a word). Indicator values turn the sum into the
// count of draws that fell in a bucket; the buckets' counts are checked by chi-square.
func TestResampleSumUniform(t *testing.T) {
	for _, tc := range []struct {
		n, calls int
		bits     uint // the path: 16 (4 a word), 21 (3), 32 (2)
	}{
		{1, 10, 16}, {2, 20000, 16}, {3, 20000, 16}, {10, 10000, 16}, {1000, 2000, 16}, {2049, 1000, 16},
		{3000, 700, 21}, {70000, 30, 32},
	} {
		if got := fieldBits(uint64(tc.n)); got != tc.bits {
			t.Fatalf("n=%d draws from %d-bit fields, want %d", tc.n, got, tc.bits)
		}
		const buckets = 10
		// Buckets of consecutive indices catch a range drawn short; buckets of residues
		// catch indices that skip some values.
		for kind, bucket := range []func(i int) int{
			func(i int) int { return i * buckets / tc.n },
			func(i int) int { return i % buckets },
		} {
			xs := make([]float64, tc.n)
			var counts, want [buckets]float64
			for b := range buckets {
				for i := range xs {
					xs[i] = 0
					if bucket(i) == b {
						xs[i] = 1
						want[b]++
					}
				}
				src := rand.NewPCG(5, uint64(b))
				rng := rand.New(src)
				for range tc.calls {
					counts[b] += resampleSum(src, rng, xs)
				}
			}
			draws := float64(tc.n * tc.calls)
			var chi2 float64
			df := -1
			for b := range buckets {
				if want[b] == 0 {
					if counts[b] != 0 {
						t.Errorf("n=%d: bucket %d is empty but was drawn %v times", tc.n, b, counts[b])
					}
					continue
				}
				e := draws * want[b] / float64(tc.n)
				chi2 += (counts[b] - e) * (counts[b] - e) / e
				df++
			}
			// 99.9th percentiles of chi-square with 0..9 degrees of freedom.
			limit := []float64{0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88}[df]
			if df == 0 && counts[0] != draws || df > 0 && chi2 > limit {
				t.Errorf("n=%d, bucket kind %d: counts %v of %v draws are not uniform (chi-square %.1f > %.1f, %d df)", tc.n, kind, counts, draws, chi2, limit, df)
			}
		}
	}
}

// Values that differ by index must average to their mean over many resamples.
func TestResampleSumMean(t *testing.T) {
	for _, n := range []int{7, 1000, 5000} {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(i)
		}
		src := rand.NewPCG(9, 9)
		rng := rand.New(src)
		var s float64
		const calls = 400
		for range calls {
			s += resampleSum(src, rng, xs)
		}
		got, want := s/float64(n*calls), float64(n-1)/2
		// An index has SD ≈ n/√12, so the mean of n·calls of them has SD ≈ n/√(12·n·calls).
		if se := float64(n) / math.Sqrt(12*float64(n*calls)); math.Abs(got-want) > 5*se {
			t.Errorf("n=%d: mean index %v, want ≈ %v", n, got, want)
		}
	}
}

// BenchmarkResampleSum draws one resample of 1,000 values (the paper's
// per-example count), the bootstrap's inner loop.
func BenchmarkResampleSum(b *testing.B) {
	xs := make([]float64, 1000)
	for i := range xs {
		xs[i] = float64(i)
	}
	src := rand.NewPCG(1, 2)
	rng := rand.New(src)
	var s float64
	for b.Loop() {
		s += resampleSum(src, rng, xs)
	}
	_ = s
}

// resampleSum must return what it did before its fields shared multiplies, bit for bit,
// on every path and for sizes around the field boundaries, so pinned bootstraps stay put.
func TestResampleSumUnchanged(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 7, 10, 999, 1000, 1001, 2048, 2049, 3000, 4096, 40000, 65535, 65536, 65537, 70000} {
		xs := make([]float64, n)
		fill := rand.New(rand.NewPCG(uint64(n), 3))
		for i := range xs {
			xs[i] = fill.NormFloat64() * 1e3
		}
		a, b := rand.NewPCG(7, uint64(n)), rand.NewPCG(7, uint64(n))
		ra, rb := rand.New(a), rand.New(b)
		for call := range 20 {
			got, want := resampleSum(a, ra, xs), resampleSumBefore(b, rb, xs)
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("n=%d call %d: resampleSum = %v, before = %v", n, call, got, want)
			}
		}
	}
}

// BenchmarkResampleSumBefore is BenchmarkResampleSum's baseline in the same run.
func BenchmarkResampleSumBefore(b *testing.B) {
	xs := make([]float64, 1000)
	for i := range xs {
		xs[i] = float64(i)
	}
	src := rand.NewPCG(1, 2)
	rng := rand.New(src)
	var s float64
	for b.Loop() {
		s += resampleSumBefore(src, rng, xs)
	}
	_ = s
}

// resampleSumBefore is resampleSum as it was before fields 0 and 2 (1 and 3) shared a
// multiply: the oracle that the faster one draws the same values. It returns the sum of len(xs) values drawn from xs with replacement.
// The indices come several to a 64-bit word, each from its own k-bit field by Lemire's
// multiply-and-shift with rejection, so they are exactly uniform; several running sums
// keep the additions from waiting on each other.
func resampleSumBefore(src *rand.PCG, rng *rand.Rand, xs []float64) float64 {
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
		for i+4 <= n {
			w := src.Uint64()
			m0, m1, m2, m3 := (w&mask)*n, (w>>16&mask)*n, (w>>32&mask)*n, (w>>48)*n
			if m0&mask >= thresh {
				a += xs[m0>>16]
				i++
			}
			if m1&mask >= thresh {
				b += xs[m1>>16]
				i++
			}
			if m2&mask >= thresh {
				c += xs[m2>>16]
				i++
			}
			if m3&mask >= thresh {
				d += xs[m3>>16]
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
