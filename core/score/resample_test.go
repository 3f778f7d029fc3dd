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
