package langid

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/internal/mocorpus"
)

// corpusLines builds n one-line texts from the machine's gettext catalogs, round-robin
// over languages, and writes them to dir/corpus.txt.
func corpusLines(t testing.TB, dir string, n int) ([]string, string) {
	t.Helper()
	lines := mocorpus.Interleave(testCorpus(t), n)
	if len(lines) < n {
		skipOrFail(t, "the gettext catalogs on this machine hold fewer than 100,000 messages")
	}
	texts := make([]string, len(lines))
	var b strings.Builder
	for i, l := range lines {
		texts[i] = l.Text
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	path := filepath.Join(dir, "corpus.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return texts, path
}

// timeCLI runs `fasttext predict model file` and returns its wall time and output.
func timeCLI(t *testing.T, ft, model, file string) (time.Duration, []byte) {
	t.Helper()
	start := time.Now()
	out, err := exec.Command(ft, "predict", model, file).Output()
	if err != nil {
		t.Fatalf("fasttext predict: %v", err)
	}
	return time.Since(start), out
}

// TestLID176Agreement checks that the Go predictor's top label equals the C++ CLI's
// on >= 99.9% of 100,000 multilingual lines, and reports the throughput of both on the
// same file in the same run: `go test -run TestLID176Agreement -v ./plugins/metrics/langid/`.
func TestLID176Agreement(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000-line agreement test")
	}
	ft := requireTool(t, "fasttext", "apt-get install -y fasttext")
	modelPath, m := testModel(t)
	dir := t.TempDir()
	texts, file := corpusLines(t, dir, 100_000)

	one := filepath.Join(dir, "one.txt")
	if err := os.WriteFile(one, []byte(texts[0]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	loadOnly, _ := timeCLI(t, ft, modelPath, one)
	cppTotal, out := timeCLI(t, ft, modelPath, file)

	start := time.Now()
	got := m.PredictBatch(texts, 1, 0, 2)
	goTime := time.Since(start)
	start = time.Now()
	for _, tx := range texts[:20_000] {
		m.Predict(tx, 1, 0)
	}
	goSingle := time.Since(start) * 5

	var want []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		want = append(want, strings.TrimSpace(sc.Text()))
	}
	if len(want) != len(texts) {
		t.Fatalf("CLI printed %d lines for %d inputs", len(want), len(texts))
	}
	diff := 0
	for i := range texts {
		g := ""
		if len(got[i]) > 0 {
			g = got[i][0].Label
		}
		if g != want[i] {
			diff++
			if diff <= 5 {
				t.Logf("line %d %q: C++ %s, Go %s", i+1, texts[i], want[i], g)
			}
		}
	}
	agree := 1 - float64(diff)/float64(len(texts))
	t.Logf("top-1 agreement with fasttext predict: %.5f (%d of %d lines differ)", agree, diff, len(texts))
	if agree < 0.999 {
		t.Errorf("agreement %.5f < 0.999", agree)
	}
	cppPredict := cppTotal - loadOnly
	rate := func(d time.Duration) float64 { return float64(len(texts)) / d.Seconds() }
	t.Logf("throughput on %d lines (GOMAXPROCS %d): C++ CLI %.0f lines/s (%v, of which %v model load + process start); Go PredictBatch 2 workers %.0f lines/s (%v) = %.2fx the CLI's predict loop; Go Predict 1 goroutine %.0f lines/s = %.2fx",
		len(texts), runtime.GOMAXPROCS(0), rate(cppPredict), cppTotal.Round(time.Millisecond), loadOnly.Round(time.Millisecond),
		rate(goTime), goTime.Round(time.Millisecond), cppPredict.Seconds()/goTime.Seconds(),
		rate(goSingle), cppPredict.Seconds()/goSingle.Seconds())
}

// BenchmarkPredictBatch measures lid.176 over 10,000 gettext lines with 2 workers.
func BenchmarkPredictBatch(b *testing.B) {
	_, m := testModel(b)
	texts, _ := corpusLines(b, b.TempDir(), 10_000)
	b.ResetTimer()
	for b.Loop() {
		m.PredictBatch(texts, 1, 0, 2)
	}
	b.ReportMetric(float64(len(texts)*b.N)/b.Elapsed().Seconds(), "lines/s")
}
