package perplexity

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/plugins/internal/kn"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// Synthetic German-like text: pseudo-words from syllables with a Zipf
// distribution over 50,000 ranks, so that n-gram statistics (and the model's
// size) resemble natural text rather than a handful of repeated words.
var syllables = strings.Fields("ver ge schaft lich keit ung stän dig be wer tung ein heit zu der die das und mit für auf aus bei ten ren lan ger")

// cjk switches the synthetic text to 3,000 Han characters, the hard case for
// the n-gram memo (many more distinct n-grams); PERPLEXITY_BENCH_SCRIPT=cjk.
var cjk = os.Getenv("PERPLEXITY_BENCH_SCRIPT") == "cjk"

func word(rank uint64) string {
	x := rank*0x9e3779b97f4a7c15 + 1
	var b strings.Builder
	for range 1 + rank%4 {
		x ^= x >> 29
		x *= 0xbf58476d1ce4e5b9
		if cjk {
			b.WriteRune(rune(0x4E00 + x%3000))
			continue
		}
		b.WriteString(syllables[x%uint64(len(syllables))])
	}
	return b.String()
}

type synth struct {
	r *rand.Rand
	z *rand.Zipf
}

func newSynth(seed uint64) *synth {
	r := rand.New(rand.NewPCG(seed, 7))
	return &synth{r: r, z: rand.NewZipf(r, 1.1, 2, 50_000)}
}

// text returns about n characters of text.
func (s *synth) text(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(word(s.z.Uint64()))
		if s.r.IntN(12) == 0 {
			b.WriteString(".")
		}
	}
	return b.String()
}

func writeCorpus(tb testing.TB, path string, docs, docChars int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	s := newSynth(1)
	for range docs {
		w.WriteString(s.text(docChars))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

// peakRSS is the process's high-water resident set (VmHWM), in MiB.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}

func cellSize() int {
	if v, err := strconv.Atoi(os.Getenv("PERPLEXITY_BENCH_N")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

// BenchmarkOfflineCell measures the offline back end on a whole cell
// (default 100,000 examples of ~300-character prompts and ~600-character
// responses; PERPLEXITY_BENCH_N changes it), streamed in batches of 1,000 as
// the host sends them, against a reference model trained on a 4 MB corpus.
// "baseline" is the same scoring as a plain single-goroutine kn.Score loop.
// Run: go test -run '^$' -bench OfflineCell -benchtime 1x ./plugins/metrics/perplexity/
func BenchmarkOfflineCell(b *testing.B) {
	dir := b.TempDir()
	writeCorpus(b, filepath.Join(dir, "de.txt"), 8000, 500)
	n := cellSize()
	batch := func(s *synth, k int) []sdk.Example {
		out := make([]sdk.Example, k)
		for i := range out {
			out[i] = sdk.Example{ID: strconv.Itoa(i), Prompt: s.text(300), Response: s.text(600)}
		}
		return out
	}
	attrs := map[string]cty.Value{"reference": cty.StringVal(filepath.Join(dir, "{lang}.txt"))}

	resetModels()
	t0 := time.Now()
	acc := open(b, "de", attrs)
	b.ReportMetric(time.Since(t0).Seconds(), "train-s")
	m := func() *kn.Model {
		models.mu.Lock()
		defer models.mu.Unlock()
		for _, e := range models.m {
			return e.model
		}
		return nil
	}()

	b.Run("plugin", func(b *testing.B) {
		for b.Loop() {
			acc := open(b, "de", attrs)
			s := newSynth(2)
			var gen, score time.Duration
			for done := 0; done < n; done += 1000 {
				t := time.Now()
				exs := batch(s, min(1000, n-done))
				gen += time.Since(t)
				t = time.Now()
				if _, err := acc.Add(context.Background(), exs); err != nil {
					b.Fatal(err)
				}
				score += time.Since(t)
			}
			_, agg, err := acc.Finish(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(score.Seconds(), "score-s")
			b.ReportMetric(gen.Seconds(), "synth-s")
			b.ReportMetric(agg.Values["value"], "mean-ppl")
			b.ReportMetric(acc.offline.hitRate(), "memo-hit-rate")
		}
		b.ReportMetric(peakRSS(), "peak-RSS-MiB")
	})
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			s := newSynth(2)
			var score time.Duration
			var sum float64
			for done := 0; done < n; done += 1000 {
				exs := batch(s, min(1000, n-done))
				t := time.Now()
				for _, ex := range exs {
					sum += m.Perplexity(ex.Prompt+"\n", ex.Response)
				}
				score += time.Since(t)
			}
			b.ReportMetric(score.Seconds(), "score-s")
			b.ReportMetric(sum/float64(n), "mean-ppl")
		}
	})
	_ = acc
	b.Logf("GOMAXPROCS %d; model n-grams %v", runtime.GOMAXPROCS(0), m.NGrams())
}

// TestBenchCorpusIsNatural guards the benchmark's input: a model trained on
// the synthetic corpus must find held-out synthetic text far more probable
// than shuffled characters, or the benchmark would measure a degenerate model.
func TestBenchCorpusIsNatural(t *testing.T) {
	resetModels()
	dir := t.TempDir()
	writeCorpus(t, filepath.Join(dir, "de.txt"), 300, 400)
	acc := open(t, "de", map[string]cty.Value{"reference": cty.StringVal(filepath.Join(dir, "{lang}.txt"))})
	s := newSynth(9)
	text := s.text(600)
	r := []rune(text)
	rand.New(rand.NewPCG(3, 3)).Shuffle(len(r), func(i, j int) { r[i], r[j] = r[j], r[i] })
	vals, err := acc.Add(context.Background(), []sdk.Example{{ID: "n", Prompt: s.text(300), Response: text}, {ID: "s", Prompt: s.text(300), Response: string(r)}})
	if err != nil {
		t.Fatal(err)
	}
	natural, shuffled := vals[0].Values["perplexity"], vals[1].Values["perplexity"]
	if !(natural*2 < shuffled) {
		t.Errorf("perplexity of synthetic text %g, of its shuffled characters %g; want the first far lower", natural, shuffled)
	}
	t.Logf("synthetic %.2f, shuffled %.2f", natural, shuffled)
}
