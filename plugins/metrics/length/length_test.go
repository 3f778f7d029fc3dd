package length

import (
	"bufio"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestKnownTokenCounts(t *testing.T) {
	f, err := os.Open("testdata/known_counts.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := NewCounter(Cl100kBase, O200kBase)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	rows := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 3 {
			t.Fatalf("bad fixture line %q", sc.Text())
		}
		want := make([]int, 2)
		for k := range want {
			if want[k], err = strconv.Atoi(cols[k+1]); err != nil {
				t.Fatal(err)
			}
		}
		got := make([]int, 2)
		if err := c.Tokens(cols[0], got); err != nil {
			t.Fatal(err)
		}
		if got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%q: cl100k/o200k = %v, want %v", cols[0], got, want)
		}
		rows++
	}
	if rows < 5 {
		t.Fatalf("fixture has only %d rows", rows)
	}
}

// TestOffline re-runs the token test in a fresh network namespace with no
// interfaces but loopback-down, proving the rank tables are compiled in.
func TestOffline(t *testing.T) {
	if os.Getenv("LENGTH_OFFLINE_CHILD") != "" {
		t.Skip("already inside the namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare(1) not installed")
	}
	if err := exec.Command(unshare, "-n", "true").Run(); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	cmd := exec.Command(unshare, "-n", os.Args[0], "-test.run=^TestKnownTokenCounts$", "-test.v")
	cmd.Env = append(os.Environ(), "LENGTH_OFFLINE_CHILD=1", "HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestKnownTokenCounts") {
		t.Fatalf("token counting failed without network: %v\n%s", err, out)
	}
}

func TestChars(t *testing.T) {
	tests := []struct {
		name, text string
		want       int
	}{
		{"empty", "", 0},
		{"ascii", "hello world", 11},
		{"precomposed", "caf\u00e9", 4},
		{"decomposed counts as composed", "cafe\u0301", 4},
		{"japanese", "お誕生日おめでとう", 9},
		{"arabic", "مرحبا", 5},
		{"emoji", "👍🏽", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Chars(tt.text); got != tt.want {
				t.Errorf("Chars(%q) = %d, want %d", tt.text, got, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		encs []string
		want string
	}{
		{"unknown", []string{"o300k"}, `encoding "o300k"`},
		{"twice", []string{O200kBase, O200kBase}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewAccumulator(Options{Encodings: tt.encs})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestAccumulator(t *testing.T) {
	ex := synthExamples(1, 250)
	ex = append(ex, Example{ID: "empty"}, Example{ID: "bad-utf8", Prompt: "a\xffb", Response: "ok"})
	for _, workers := range []int{1, 3} {
		a, err := NewAccumulator(Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		// Uneven batches, including an empty one.
		for _, b := range [][2]int{{0, 7}, {7, 7}, {7, 200}, {200, len(ex)}} {
			if err := a.Add(context.Background(), ex[b[0]:b[1]]); err != nil {
				t.Fatal(err)
			}
		}
		r, err := a.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.PerExample) != len(ex) {
			t.Fatalf("got %d per-example rows, want %d", len(r.PerExample), len(ex))
		}
		c, _ := NewCounter()
		var sumP, sumR [2]float64
		var sumPC float64
		maxR := 0
		for i, e := range ex {
			got := r.PerExample[i]
			wantP, wantR := make([]int, 2), make([]int, 2)
			if err := c.Tokens(e.Prompt, wantP); err != nil {
				t.Fatal(err)
			}
			if err := c.Tokens(e.Response, wantR); err != nil {
				t.Fatal(err)
			}
			if got.ID != e.ID || got.PromptChars != Chars(e.Prompt) || got.ResponseChars != Chars(e.Response) ||
				got.PromptTokens[0] != wantP[0] || got.PromptTokens[1] != wantP[1] ||
				got.ResponseTokens[0] != wantR[0] || got.ResponseTokens[1] != wantR[1] {
				t.Fatalf("example %d: got %+v, want tokens %v/%v", i, got, wantP, wantR)
			}
			for k := range 2 {
				sumP[k] += float64(wantP[k])
				sumR[k] += float64(wantR[k])
			}
			sumPC += float64(Chars(e.Prompt))
			maxR = max(maxR, wantR[0])
		}
		n := float64(len(ex))
		if got := r.PromptChars.Mean; math.Abs(got-sumPC/n) > 1e-9 {
			t.Errorf("prompt chars mean %v, want %v", got, sumPC/n)
		}
		mp, mr, err := r.MeanTokens(O200kBase)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(mp-sumP[0]/n) > 1e-9 || math.Abs(mr-sumR[0]/n) > 1e-9 {
			t.Errorf("o200k means %v/%v, want %v/%v", mp, mr, sumP[0]/n, sumR[0]/n)
		}
		if r.ResponseTokens[0].Max != float64(maxR) || r.ResponseTokens[0].Min != 0 {
			t.Errorf("response o200k min/max %v/%v, want 0/%d", r.ResponseTokens[0].Min, r.ResponseTokens[0].Max, maxR)
		}
		if r.PromptTokens[1].N != len(ex) {
			t.Errorf("N = %d", r.PromptTokens[1].N)
		}
		if _, _, err := r.MeanTokens("p50k_base"); err == nil {
			t.Error("MeanTokens of an uncounted encoding should fail")
		}
		if _, err := a.Finish(); !errors.Is(err, ErrFinished) {
			t.Errorf("second Finish: %v", err)
		}
		if err := a.Add(context.Background(), ex[:1]); !errors.Is(err, ErrFinished) {
			t.Errorf("Add after Finish: %v", err)
		}
	}
}

func TestSummary(t *testing.T) {
	s := summarize([]int32{5, 1, 9, 3, 2, 8, 7, 4, 6, 10}, 0, 1)
	want := Summary{N: 10, Mean: 5.5, Std: math.Sqrt(8.25), Min: 1, Median: 5.5, P95: 9.55, Max: 10}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"mean", s.Mean, want.Mean}, {"std", s.Std, want.Std}, {"min", s.Min, want.Min}, {"median", s.Median, want.Median}, {"p95", s.P95, want.P95}, {"max", s.Max, want.Max}} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Strided column: elements 1, 3, 5 of the row-major pairs.
	if s := summarize([]int32{0, 1, 0, 2, 0, 6}, 1, 2); s.N != 3 || s.Mean != 3 {
		t.Errorf("strided summary %+v", s)
	}
	if e := summarize(nil, 0, 1); e.N != 0 || !math.IsNaN(e.Mean) {
		t.Errorf("empty summary %+v", e)
	}
}

func TestCancel(t *testing.T) {
	a, err := NewAccumulator(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Add(ctx, synthExamples(2, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Add with cancelled context: %v", err)
	}
	r, err := a.Finish()
	if err != nil || len(r.PerExample) != 0 {
		t.Fatalf("a failed batch must not be kept: %v %d", err, len(r.PerExample))
	}
}

// peakHeap samples heap object bytes (live and not yet collected) every few
// milliseconds until stop is called, which returns the peak above the heap
// at the start (after a GC), i.e. what the metric itself added.
func peakHeap() (stop func() uint64) {
	runtime.GC()
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	return func() uint64 { close(done); <-finished; return max(peak.Load(), base) - base }
}

// BenchmarkLength100k measures one cell of 100,000 synthetic multilingual
// examples in batches of 1,000, reporting wall time and peak live heap.
func BenchmarkLength100k(b *testing.B) {
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

// TestChunkedMatchesWhole checks the chunking argument of Counter.Tokens on
// random strings built from characters the pre-tokenizer patterns treat
// specially (spaces of several kinds, newlines, digits, apostrophes,
// punctuation, combining marks, CJK, RTL), plus the synthetic corpus.
func TestChunkedMatchesWhole(t *testing.T) {
	alphabet := []string{" ", " ", " ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u3000", "\u2009", "\u200b", "\u200d",
		"a", "B", "word", "Ünïcode", "don't", "'s", "'LL", "1", "23", "4567", ".", ",", "!?", "--", "(", ")", "\"", "'",
		"e\u0301", "東京", "お", "مرحبا", "😀", "👍🏽", "\u0085", "\x00", "ß", "İ"}
	c, err := NewCounter(Cl100kBase, O200kBase)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	var texts []string
	for range 4000 {
		var b strings.Builder
		for range 1 + r.IntN(25) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		texts = append(texts, b.String())
	}
	for _, e := range synthExamples(5, 300) {
		texts = append(texts, e.Prompt, e.Response)
	}
	got, want := make([]int, 2), make([]int, 2)
	for _, s := range texts {
		// Texts with a "\n \n" run are counted whole by countNewlineRuns, not
		// chunked, and the library alone miscounts them (TestTiktokenReference).
		if done, err := c.countNewlineRuns(s, want); done || err != nil {
			continue
		}
		for pass := range 2 { // second pass is served from the memo
			if err := c.Tokens(s, got); err != nil {
				t.Fatal(err)
			}
			if err := c.countWhole(s, want); err != nil {
				t.Fatal(err)
			}
			if got[0] != want[0] || got[1] != want[1] {
				t.Fatalf("pass %d, %q: chunked %v, whole %v", pass, s, got, want)
			}
		}
	}
}
