package diversity

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

// naive is the study's definition: the mean of cos(u_i, u_j) over all
// ordered pairs i != j, and per example the mean over j != i. Zero vectors
// are left out, as in Stream.
func naive(vecs [][]float32) (mean float64, per []float64) {
	var idx []int
	norms := make([]float64, len(vecs))
	for i, v := range vecs {
		for _, x := range v {
			norms[i] += float64(x) * float64(x)
		}
		norms[i] = math.Sqrt(norms[i])
		if norms[i] > 0 {
			idx = append(idx, i)
		}
	}
	n := len(idx)
	per = make([]float64, len(vecs))
	for i := range per {
		per[i] = math.NaN()
	}
	total := 0.0
	for _, i := range idx {
		row := 0.0
		for _, j := range idx {
			if i == j {
				continue
			}
			dot := 0.0
			for k := range vecs[i] {
				dot += float64(vecs[i][k]) * float64(vecs[j][k])
			}
			row += dot / (norms[i] * norms[j])
		}
		total += row
		per[i] = 1 - row/float64(n-1)
	}
	return total / float64(n*(n-1)), per
}

func randomVectors(r *rand.Rand, n, d int, bias float64, zeroEvery int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, d)
		if zeroEvery > 0 && i%zeroEvery == zeroEvery-1 {
			continue
		}
		scale := 0.1 + 10*r.Float64() // unnormalised on purpose
		for k := range out[i] {
			out[i][k] = float32(scale * (r.NormFloat64() + bias))
		}
	}
	return out
}

func TestStreamMatchesNaive(t *testing.T) {
	tests := []struct {
		n, d      int
		bias      float64
		zeroEvery int
	}{
		{2, 3, 0, 0},
		{3, 1, 0, 0},
		{10, 8, 0.5, 0},
		{57, 64, 1, 5},
		{200, 128, 0, 0},
		{300, 512, 0.3, 17},
	}
	for _, tc := range []struct {
		f32 bool
		tol float64 // per-example absolute tolerance
	}{{true, 1e-6}, {false, 2e-3}} {
		for _, tt := range tests {
			r := rand.New(rand.NewPCG(uint64(tt.n), uint64(tt.d)))
			vecs := randomVectors(r, tt.n, tt.d, tt.bias, tt.zeroEvery)
			s := NewStream(true, tc.f32)
			for _, v := range vecs {
				if err := s.Add(v); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Finish()
			if err != nil {
				t.Fatal(err)
			}
			wantMean, wantPer := naive(vecs)
			if rel := math.Abs(got.Diversity-(1-wantMean)) / math.Abs(1-wantMean); rel > 1e-9 {
				t.Errorf("n=%d d=%d: diversity %.15g, naive %.15g (rel %g)", tt.n, tt.d, got.Diversity, 1-wantMean, rel)
			}
			if math.Abs(got.MeanCosine-wantMean) > 1e-12 {
				t.Errorf("n=%d d=%d: mean cosine %.15g, naive %.15g", tt.n, tt.d, got.MeanCosine, wantMean)
			}
			skipped := 0
			for i := range vecs {
				if math.IsNaN(wantPer[i]) {
					skipped++
					if !math.IsNaN(got.PerExample[i]) {
						t.Errorf("n=%d: example %d is a zero vector, got %v", tt.n, i, got.PerExample[i])
					}
					continue
				}
				if math.Abs(got.PerExample[i]-wantPer[i]) > tc.tol {
					t.Errorf("n=%d d=%d: per-example %d = %.12g, naive %.12g", tt.n, tt.d, i, got.PerExample[i], wantPer[i])
				}
			}
			if got.Skipped != skipped || got.N != tt.n-skipped {
				t.Errorf("n=%d: N/Skipped = %d/%d, want %d/%d", tt.n, got.N, got.Skipped, tt.n-skipped, skipped)
			}
		}
	}
}

func TestStreamEdgeCases(t *testing.T) {
	s := NewStream(true, false)
	if err := s.Add([]float32{1, 0}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]float32{{}, {1, 2, 3}, {float32(math.NaN()), 1}, {float32(math.Inf(1)), 0}} {
		if err := s.Add(bad); err == nil {
			t.Errorf("Add(%v) should fail", bad)
		}
	}
	r, err := s.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 1 || !math.IsNaN(r.Diversity) || !math.IsNaN(r.PerExample[0]) || len(r.PerExample) != 1 {
		t.Errorf("one vector: %+v (rejected vectors must leave no trace)", r)
	}
	if _, err := s.Finish(); err == nil {
		t.Error("second Finish should fail")
	}
	// Identical directions: diversity 0; opposite: mean cosine −1.
	s = NewStream(false, false)
	for _, v := range [][]float32{{1, 1}, {2, 2}, {3, 3}} {
		_ = s.Add(v)
	}
	if r, _ := s.Finish(); math.Abs(r.Diversity) > 1e-12 || r.PerExample != nil {
		t.Errorf("identical: %+v", r)
	}
	s = NewStream(false, false)
	_ = s.Add([]float32{1, 0})
	_ = s.Add([]float32{-1, 0})
	if r, _ := s.Finish(); math.Abs(r.Diversity-2) > 1e-12 {
		t.Errorf("opposite: %+v", r)
	}
}

func TestAccumulatorBatchingInvariant(t *testing.T) {
	ex := synthExamples(9, 120)
	ex = append(ex, Example{ID: "empty", Prompt: "", Response: "!!!"})
	run := func(split []int) *Result {
		a, err := NewAccumulator(Options{})
		if err != nil {
			t.Fatal(err)
		}
		prev := 0
		for _, s := range append(split, len(ex)) {
			if err := a.Add(context.Background(), ex[prev:s]); err != nil {
				t.Fatal(err)
			}
			prev = s
		}
		r, err := a.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	one, many := run(nil), run([]int{1, 2, 50, 50, 99})
	if one.Prompt.Diversity != many.Prompt.Diversity && math.Abs(one.Prompt.Diversity-many.Prompt.Diversity) > 1e-12 {
		t.Errorf("prompt diversity depends on batching: %v vs %v", one.Prompt.Diversity, many.Prompt.Diversity)
	}
	if math.Abs(one.Response.Diversity-many.Response.Diversity) > 1e-12 {
		t.Errorf("response diversity depends on batching: %v vs %v", one.Response.Diversity, many.Response.Diversity)
	}
	if one.Prompt.Skipped != 1 || one.Response.Skipped != 1 || len(one.IDs) != len(ex) || one.Dim != 512 {
		t.Errorf("skipped %d/%d ids %d dim %d", one.Prompt.Skipped, one.Response.Skipped, len(one.IDs), one.Dim)
	}
	if !(one.Prompt.Diversity > 0 && one.Prompt.Diversity < 1) {
		t.Errorf("prompt diversity %v out of (0,1)", one.Prompt.Diversity)
	}
}

// A cell of near-copies must be less diverse than a cell of varied texts,
// and the odd one out must get the highest per-example value.
func TestAccumulatorOrdersCells(t *testing.T) {
	same := []Example{}
	for i := range 30 {
		same = append(same, Example{Prompt: "Translate the sentence into German please", Response: "Bitte übersetze den Satz" + string(rune('a'+i%3))})
	}
	same = append(same, Example{Prompt: "東京の天気はどうですか", Response: "晴れです"})
	varied := synthExamples(4, 31)
	div := func(ex []Example) *Result {
		a, _ := NewAccumulator(Options{})
		if err := a.Add(context.Background(), ex); err != nil {
			t.Fatal(err)
		}
		r, err := a.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rs, rv := div(same), div(varied)
	if !(rs.Prompt.Diversity < rv.Prompt.Diversity && rs.Response.Diversity < rv.Response.Diversity) {
		t.Errorf("near-copies %v/%v not below varied %v/%v", rs.Prompt.Diversity, rs.Response.Diversity, rv.Prompt.Diversity, rv.Response.Diversity)
	}
	last := len(same) - 1
	for i, v := range rs.Prompt.PerExample[:last] {
		if v >= rs.Prompt.PerExample[last] {
			t.Fatalf("example %d per-example %v >= odd one out %v", i, v, rs.Prompt.PerExample[last])
		}
	}
}

// peakHeap samples heap object bytes until stop, returning the peak above
// the heap at the start (after a GC).
func peakHeap() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak atomic.Uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return max(peak.Load(), base) - base }
}

func flatRandom(n, d int) [][]float32 {
	r := rand.New(rand.NewPCG(1, 2))
	slab := make([]float32, n*d)
	for i := range slab {
		slab[i] = float32(r.NormFloat64() + 0.2)
	}
	out := make([][]float32, n)
	for i := range out {
		out[i] = slab[i*d : (i+1)*d]
	}
	return out
}

// BenchmarkStream100k: the streaming metric (aggregate and per-example
// values) over 100,000 precomputed 512-d vectors.
func BenchmarkStream100k(b *testing.B) {
	vecs := flatRandom(100_000, 512)
	b.ResetTimer()
	for b.Loop() {
		stop := peakHeap()
		cpu0 := cpuSeconds()
		s := NewStream(true, false)
		for _, v := range vecs {
			if err := s.Add(v); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.Finish(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(cpuSeconds()-cpu0, "cpu-s")
		b.ReportMetric(float64(stop())/(1<<20), "peak-heap-over-input-MiB")
	}
}

// BenchmarkNaive5k: the study's n×n computation at n = 5,000 (each
// unordered pair once, so half the matrix: generous to the baseline).
// Multiply by 400 for n = 100,000.
func BenchmarkNaive5k(b *testing.B) {
	vecs := flatRandom(5_000, 512)
	b.ResetTimer()
	for b.Loop() {
		cpu0 := cpuSeconds()
		naivePairs(vecs)
		b.ReportMetric(cpuSeconds()-cpu0, "cpu-s")
	}
}

// naivePairs returns the mean off-diagonal cosine by explicit pairs.
func naivePairs(vecs [][]float32) float64 {
	n := len(vecs)
	unit := make([][]float32, n)
	for i, v := range vecs {
		unit[i] = append([]float32(nil), v...)
		normalize32(unit[i])
	}
	total := 0.0
	for i := range n {
		ui := unit[i]
		for j := i + 1; j < n; j++ {
			uj := unit[j][:len(ui)]
			var dot float32
			for k, x := range ui {
				dot += x * uj[k]
			}
			total += float64(dot)
		}
	}
	return 2 * total / float64(n*(n-1))
}

// BenchmarkDiversity100k: the whole metric on 100,000 synthetic multilingual
// examples with the default hash embedder, batches of 1,000.
func BenchmarkDiversity100k(b *testing.B) {
	ex := synthExamples(3, 100_000)
	b.ResetTimer()
	for b.Loop() {
		stop := peakHeap()
		cpu0 := cpuSeconds()
		a, err := NewAccumulator(Options{})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(ex); i += 1000 {
			if err := a.Add(context.Background(), ex[i:min(i+1000, len(ex))]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := a.Finish(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(cpuSeconds()-cpu0, "cpu-s")
		b.ReportMetric(float64(stop())/(1<<20), "peak-heap-over-input-MiB")
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {0, 0},
		{1 + 1.0/256, 0x3f80},                      // tie: to even (down)
		{1 + 3.0/256, 0x3f82},                      // tie: to even (up)
		{1 + 1.0/256 + 1.0/4096, 0x3f81},           // above the tie: up
		{math.Float32frombits(0x3f80ffff), 0x3f81}, // rounds up
	}
	for _, tt := range tests {
		if got := toBF16(tt.in); got != tt.want {
			t.Errorf("toBF16(%v) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}
