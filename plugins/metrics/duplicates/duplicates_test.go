package duplicates

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/sdk/minhash"
)

type fixture struct {
	Seeds    []Seed
	Examples []Example
}

func loadFixture(t testing.TB) fixture {
	b, err := os.ReadFile("testdata/cell.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// exactJaccard is the Jaccard similarity of the shingle sets.
func exactJaccard(a, b string, k int) float64 {
	set := func(s string) map[string]bool {
		r := []rune(minhash.Normalize(s))
		w := min(k, len(r))
		m := map[string]bool{}
		for i := 0; i+w <= len(r); i++ {
			m[string(r[i:i+w])] = true
		}
		return m
	}
	sa, sb := set(a), set(b)
	inter := 0
	for x := range sa {
		if sb[x] {
			inter++
		}
	}
	return float64(inter) / float64(len(sa)+len(sb)-inter)
}

func TestFixtureFlags(t *testing.T) {
	fx := loadFixture(t)
	type want struct {
		pOf, rOf         int
		pExact, rExact   bool
		pSeed, rSeed     string
		pSeedEx, rSeedEx bool
		pairOf           int
		pairSeed         string
	}
	wants := []want{
		{pOf: -1, rOf: -1, pSeed: "s1", pSeedEx: true, pairOf: -1}, // e0: case/space copy of a seed prompt
		{pOf: -1, rOf: -1, rSeed: "s2", pairOf: -1},                // e1: response one letter off a seed
		{pOf: 1, pExact: true, rOf: -1, pairOf: -1},                // e2: prompt repeats e1 modulo case/space
		{pOf: -1, rOf: 0, pairOf: -1},                              // e3: response one char off e0's
		{pOf: -1, rOf: -1, pairOf: -1},                             // e4: new
		{pOf: 4, pExact: true, rOf: 4, rExact: true, pairOf: 4},    // e5: full copy of e4
		{pOf: -1, rOf: -1, pairOf: -1},                             // e6: blank response
		{pOf: -1, rOf: -1, pSeed: "s3", pSeedEx: true, rSeed: "s3", rSeedEx: true, pairOf: -1, pairSeed: "s3"}, // e7: copied seed
		{pOf: -1, rOf: -1, pairOf: -1}, // e8: blank response is not a duplicate of e6's
	}
	// Sanity of the fixture itself: the near copies really are near.
	if j := exactJaccard(fx.Examples[1].Response, fx.Seeds[1].Response, 5); j < 0.85 || j == 1 {
		t.Fatalf("fixture e1/s2 Jaccard %v", j)
	}
	for _, split := range [][]int{nil, {1, 2, 3, 4, 5, 6, 7, 8}, {4}} {
		a, err := NewAccumulator(Options{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.AddSeeds(context.Background(), fx.Seeds); err != nil {
			t.Fatal(err)
		}
		prev := 0
		for _, s := range append(split, len(fx.Examples)) {
			if err := a.Add(context.Background(), fx.Examples[prev:s]); err != nil {
				t.Fatal(err)
			}
			prev = s
		}
		res, err := a.Finish()
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range wants {
			f := res.PerExample[i]
			got := want{f.Prompt.Of, f.Response.Of, f.Prompt.Exact, f.Response.Exact, f.Prompt.SeedID, f.Response.SeedID,
				f.Prompt.SeedExact, f.Response.SeedExact, f.PairOf, f.PairSeedID}
			if got != w {
				t.Errorf("split %v, %s: got %+v, want %+v", split, f.ID, got, w)
			}
			if f.Response.SeedID != "" && !f.Response.SeedExact && (f.Response.SeedJaccard < 0.8 || f.Response.SeedJaccard >= 1) {
				t.Errorf("%s: near-seed Jaccard %v", f.ID, f.Response.SeedJaccard)
			}
		}
		if p := res.Prompt; p.N != 9 || p.Exact != 2 || p.Near != 2 || p.SeedExact != 2 || p.SeedNear != 2 || p.Empty != 0 {
			t.Errorf("prompt rates %+v", p)
		}
		if r := res.Response; r.Exact != 1 || r.Near != 2 || r.SeedExact != 1 || r.SeedNear != 2 || r.Empty != 2 ||
			math.Abs(r.NearRate-2.0/9) > 1e-12 {
			t.Errorf("response rates %+v", r)
		}
		if res.PairExact != 1 || res.PairSeed != 1 {
			t.Errorf("pairs %d/%d", res.PairExact, res.PairSeed)
		}
		if res.PerExample[5].Prompt.OfID != "e4" {
			t.Errorf("OfID %q", res.PerExample[5].Prompt.OfID)
		}
	}
}

// mutate changes a share of the words of s, giving pairs across the whole
// Jaccard range.
func mutate(r *rand.Rand, s string, share float64) string {
	words := strings.Fields(s)
	for i := range words {
		if r.Float64() < share {
			words[i] = synthText(r, synthLangs[r.IntN(len(synthLangs))], 1)
		}
	}
	return strings.Join(words, " ")
}

func TestMinHashEstimatesJaccard(t *testing.T) {
	h := minhash.NewHasher(5, 128, 0)
	r := rand.New(rand.NewPCG(3, 4))
	var sc minhash.Scratch
	sa, sb := make([]uint32, 128), make([]uint32, 128)
	sumErr, pairs, bins := 0.0, 0, [5]int{}
	for i := range 400 {
		a := synthText(r, synthLangs[i%len(synthLangs)], 10+r.IntN(150))
		b := mutate(r, a, r.Float64()*0.6)
		j := exactJaccard(a, b, 5)
		h.Sign(a, sa, &sc)
		h.Sign(b, sb, &sc)
		est := minhash.Estimate(sa, sb)
		// 128 bins: standard error at most 0.044; allow 4.5 of them.
		if math.Abs(est-j) > 0.2 {
			t.Errorf("pair %d: estimate %.3f, exact %.3f (%d runes)", i, est, j, len([]rune(a)))
		}
		sumErr += math.Abs(est - j)
		pairs++
		bins[min(int(j*5), 4)]++
	}
	if mae := sumErr / float64(pairs); mae > 0.035 {
		t.Errorf("mean absolute error %.4f over %d pairs", mae, pairs)
	}
	for b, c := range bins {
		if c < 10 {
			t.Errorf("only %d pairs with Jaccard in [%.1f, %.1f): test does not cover the range", c, float64(b)/5, float64(b+1)/5)
		}
	}
	// Very short texts (fewer runes than a shingle, or a few shingles).
	for _, p := range [][2]string{{"ab", "ab"}, {"ab", "abc"}, {"hello", "hello!"}, {"日本", "日本語"}} {
		h.Sign(p[0], sa, &sc)
		h.Sign(p[1], sb, &sc)
		if est, j := minhash.Estimate(sa, sb), exactJaccard(p[0], p[1], 5); math.Abs(est-j) > 0.26 {
			t.Errorf("%q/%q: estimate %v, exact %v", p[0], p[1], est, j)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  Hello\t\nWORLD  ", "hello world"},
		{"ﬁne", "fine"},        // NFKC ligature
		{"Cafe\u0301", "café"}, // composition
		{"ＡＢＣ１２３", "abc123"},   // full width
		{"\u00a0\u3000", ""},   // only spaces
		{"a  b", "a b"},
	}
	for _, tt := range tests {
		if got := minhash.Normalize(tt.in); got != tt.want {
			t.Errorf("minhash.Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOptionsAndOrder(t *testing.T) {
	for _, o := range []Options{{Bands: 7}, {Threshold: 1.5}, {Shingle: -1}, {NumHashes: 5000}, {MaxCandidates: -2}} {
		if _, err := NewAccumulator(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	a, _ := NewAccumulator(Options{})
	if err := a.Add(context.Background(), []Example{{ID: "x", Prompt: "p"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddSeeds(context.Background(), []Seed{{ID: "s"}}); !errors.Is(err, ErrSeedsAfterExamples) {
		t.Errorf("AddSeeds after Add: %v", err)
	}
	if _, err := a.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(context.Background(), nil); !errors.Is(err, ErrFinished) {
		t.Errorf("Add after Finish: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b, _ := NewAccumulator(Options{})
	if err := b.Add(ctx, synthExamples(1, 100)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Add: %v", err)
	}
	if r, _ := b.Finish(); r.N != 0 {
		t.Errorf("cancelled batch was kept: %d", r.N)
	}
}

// A cell made of one text and its light edits stays fast and all but the
// first are flagged, despite MaxCandidates.
func TestRepetitiveCell(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	base := synthText(r, "de", 120)
	var ex []Example
	for i := range 3000 {
		ex = append(ex, Example{ID: "x", Prompt: mutate(r, base, 0.02), Response: base})
		_ = i
	}
	a, _ := NewAccumulator(Options{})
	start := time.Now()
	if err := a.Add(context.Background(), ex); err != nil {
		t.Fatal(err)
	}
	res, _ := a.Finish()
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if res.Response.Exact != len(ex)-1 {
		t.Errorf("response exact %d, want %d", res.Response.Exact, len(ex)-1)
	}
	if float64(res.Prompt.Near) < 0.98*float64(len(ex)-1) {
		t.Errorf("prompt near %d of %d", res.Prompt.Near, len(ex)-1)
	}
}

func peakHeap() (stop func() uint64) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
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

// BenchmarkDuplicates100k: 10,000 seeds, then 100,000 synthetic examples in
// batches of 1,000, of which 5 % are light edits of earlier ones.
func BenchmarkDuplicates100k(b *testing.B) {
	ex := synthExamples(3, 100_000)
	r := rand.New(rand.NewPCG(5, 6))
	for i := 1000; i < len(ex); i += 20 {
		ex[i].Response = mutate(r, ex[r.IntN(i)].Response, 0.03)
	}
	seedEx := synthExamples(4, 10_000)
	seeds := make([]Seed, len(seedEx))
	for i, e := range seedEx {
		seeds[i] = Seed{ID: e.ID, Prompt: e.Prompt, Response: e.Response}
	}
	b.ResetTimer()
	for b.Loop() {
		stop := peakHeap()
		cpu0 := cpuSeconds()
		a, err := NewAccumulator(Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.AddSeeds(context.Background(), seeds); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(ex); i += 1000 {
			if err := a.Add(context.Background(), ex[i:min(i+1000, len(ex))]); err != nil {
				b.Fatal(err)
			}
		}
		res, err := a.Finish()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(cpuSeconds()-cpu0, "cpu-s")
		b.ReportMetric(float64(stop())/(1<<20), "peak-heap-over-input-MiB")
		b.ReportMetric(res.Response.NearRate, "response-near-rate")
	}
}
