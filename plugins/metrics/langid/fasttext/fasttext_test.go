package fasttext

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// requireTool returns the path of an external tool, or skips the test when it is
// missing, unless POLYGLOT_REQUIRE_TOOLS=1 turns the skip into a failure.
func requireTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("%s not found (%s)", name, install)
		if os.Getenv("POLYGLOT_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg + " and POLYGLOT_REQUIRE_TOOLS=1")
		}
		t.Skip(msg)
	}
	return p
}

// parsePredictions reads predict-prob output: "label prob label prob ..." per line.
func parsePredictions(t *testing.T, out []byte) [][]Prediction {
	t.Helper()
	var res [][]Prediction
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f)%2 != 0 {
			t.Fatalf("odd field count in predict-prob line %q", sc.Text())
		}
		var line []Prediction
		for i := 0; i < len(f); i += 2 {
			p, err := strconv.ParseFloat(f[i+1], 32)
			if err != nil {
				t.Fatalf("bad probability in %q: %v", sc.Text(), err)
			}
			line = append(line, Prediction{Label: f[i], Prob: float32(p)})
		}
		res = append(res, line)
	}
	return res
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// comparePredictions checks labels in order and probabilities within tol.
func comparePredictions(t *testing.T, name string, queries []string, want, got [][]Prediction, tol float64) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d reference lines, %d Go results", name, len(want), len(got))
	}
	bad := 0
	for i := range want {
		ok := len(want[i]) == len(got[i])
		for j := 0; ok && j < len(want[i]); j++ {
			ok = want[i][j].Label == got[i][j].Label && math.Abs(float64(want[i][j].Prob-got[i][j].Prob)) <= tol
		}
		if !ok {
			bad++
			if bad <= 5 {
				t.Errorf("%s line %d %q:\n  C++ %v\n  Go  %v", name, i+1, queries[i], want[i], got[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d lines differ", name, bad, len(want))
	}
}

func TestGolden(t *testing.T) {
	queries := readLines(t, "testdata/tiny.queries")
	for _, tc := range []struct {
		model, golden string
		quantized     bool
	}{
		{"testdata/tiny.bin", "testdata/tiny.bin.golden", false},
		{"testdata/tiny.ftz", "testdata/tiny.ftz.golden", true},
	} {
		t.Run(filepath.Base(tc.model), func(t *testing.T) {
			m, err := LoadFile(tc.model)
			if err != nil {
				t.Fatal(err)
			}
			if m.Quantized() != tc.quantized {
				t.Errorf("Quantized() = %v, want %v", m.Quantized(), tc.quantized)
			}
			if a := m.Args(); a.Dim != 4 || a.Loss != LossHS || a.Minn != 2 || a.Maxn != 4 {
				t.Errorf("unexpected args %+v", a)
			}
			golden, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatal(err)
			}
			want := parsePredictions(t, golden)
			got := make([][]Prediction, len(queries))
			for i, q := range queries {
				got[i] = m.Predict(q, 5, 0)
			}
			comparePredictions(t, tc.model, queries, want, got, 1e-4)
			batch := m.PredictBatch(queries, 5, 0, 3)
			comparePredictions(t, tc.model+" batch", queries, got, batch, 0)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // substrings of the error
	}{
		{"testdata/badmagic.bin", []string{"magic number", "got 12345678, want 793712314"}},
		{"testdata/version13.bin", []string{"version 13 is not supported"}},
		{"testdata/loss9.bin", []string{"unknown loss 9"}},
		{"testdata/skipgram.bin", []string{"not a supervised classifier"}},
		{"testdata/truncated.ftz", []string{"truncated", "at byte 5000"}},
		{"testdata/tiny.train", []string{"not a fastText model"}},
		{"testdata/missing.bin", []string{"open model"}},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			_, err := LoadFile(tc.file)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestTruncatedEverywhere cuts both tiny models at many offsets, including every byte
// of the header and dictionary: each prefix must fail cleanly with ErrTruncated.
func TestTruncatedEverywhere(t *testing.T) {
	for _, name := range []string{"testdata/tiny.bin", "testdata/tiny.ftz"} {
		full, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(full); n += 1 + n/50 {
			_, err := Load(bytes.NewReader(full[:n]))
			var fe *FormatError
			if !errors.Is(err, ErrTruncated) || !errors.As(err, &fe) {
				t.Fatalf("%s cut at %d: err = %v, want a FormatError wrapping ErrTruncated", name, n, err)
			}
			if fe.Offset > int64(n) {
				t.Fatalf("%s cut at %d: reported offset %d past the end", name, n, fe.Offset)
			}
		}
		if _, err := Load(bytes.NewReader(full)); err != nil {
			t.Fatalf("%s whole file: %v", name, err)
		}
	}
}

func TestTokenisationEdgeCases(t *testing.T) {
	m, err := LoadFile("testdata/tiny.ftz")
	if err != nil {
		t.Fatal(err)
	}
	base := m.Predict("schlug fehl: Signal erhalten", 5, 0)
	for _, tc := range []struct{ name, text string }{
		{"tabs and vertical tab", "schlug\tfehl:\vSignal\ferhalten"},
		{"surrounding spaces", "  schlug fehl: Signal erhalten  "},
		{"newline is a space", "schlug fehl:\nSignal erhalten"},
		{"labels are ignored", "__label__fr schlug fehl: __label__zz Signal erhalten"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := m.Predict(tc.text, 5, 0)
			if fmt.Sprint(got) != fmt.Sprint(base) {
				t.Errorf("Predict(%q) = %v, want %v", tc.text, got, base)
			}
		})
	}
	if got := m.Predict("", 1, 0); len(got) != 1 {
		t.Errorf("empty text: %v, want one label from the </s> token alone", got)
	}
	if got := m.Predict("schlug fehl", 2, 0.999999); len(got) != 0 {
		t.Errorf("threshold near 1 should drop every label, got %v", got)
	}
	if all := m.Predict("schlug fehl", 0, 0); len(all) == 0 || len(all) > len(m.Labels()) {
		t.Errorf("k=0 gives %d labels, want between 1 and %d", len(all), len(m.Labels()))
	}
	buf := make([]Prediction, 0, 8)
	allocs := testing.AllocsPerRun(200, func() {
		buf = m.PredictInto(buf[:0], "schlug fehl: Signal erhalten ünbekanntes Wört", 3, 0)
	})
	if allocs > 0 {
		t.Errorf("PredictInto allocates %.1f times per call, want 0", allocs)
	}
}

func TestPredictBatchMatchesPredict(t *testing.T) {
	m, err := LoadFile("testdata/tiny.bin")
	if err != nil {
		t.Fatal(err)
	}
	queries := readLines(t, "testdata/tiny.train")
	for _, workers := range []int{1, 2, 7, 0} {
		got := m.PredictBatch(queries, 2, 0.01, workers)
		for i, q := range queries {
			if want := m.Predict(q, 2, 0.01); fmt.Sprint(want) != fmt.Sprint(got[i]) {
				t.Fatalf("workers=%d line %d: batch %v, single %v", workers, i, got[i], want)
			}
		}
	}
	if got := m.PredictBatch(nil, 1, 0, 2); len(got) != 0 {
		t.Errorf("empty batch gave %d results", len(got))
	}
}

// TestQuantizedRowPath forces the per-row decoding used for very large .ftz inputs
// and checks it predicts exactly what the decoded table does.
func TestQuantizedRowPath(t *testing.T) {
	decoded, err := LoadFile("testdata/tiny.ftz")
	if err != nil {
		t.Fatal(err)
	}
	old := maxDecodedInputBytes
	maxDecodedInputBytes = 0
	defer func() { maxDecodedInputBytes = old }()
	perRow, err := LoadFile("testdata/tiny.ftz")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := perRow.in.(*quant); !ok {
		t.Fatalf("input matrix is %T, want the per-row *quant", perRow.in)
	}
	for _, q := range readLines(t, "testdata/tiny.queries") {
		a, b := decoded.Predict(q, 5, 0), perRow.Predict(q, 5, 0)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%q: decoded %v, per-row %v", q, a, b)
		}
	}
}
