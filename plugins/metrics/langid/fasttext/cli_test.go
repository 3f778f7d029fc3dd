package fasttext

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgainstCLI trains small models with Debian's fasttext CLI in every loss and
// quantization variant, then checks that Predict gives the labels and probabilities
// that `fasttext predict-prob` prints (within 1e-4).
func TestAgainstCLI(t *testing.T) {
	ft := requireTool(t, "fasttext", "apt-get install -y fasttext")
	dir := t.TempDir()
	train := readLines(t, "testdata/tiny.train")

	// A second training set with 300 labels (language x line group), because the CLI
	// only quantizes an output matrix (-qout) with at least 256 rows.
	many := make([]string, len(train))
	for i, l := range train {
		lab, text, _ := strings.Cut(l, " ")
		many[i] = fmt.Sprintf("%s_%d %s", lab, (i/5)%60, text)
	}
	write := func(name string, lines []string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	trainPath := write("train.txt", train)
	manyPath := write("many.txt", many)

	queries := readLines(t, "testdata/tiny.queries")
	queries = append(queries,
		"",
		"\t leading and trailing whitespace\t ",
		"__label__de __label__unknown label tokens are skipped",
		"bytes that are not UTF-8: \xff\xfe\x80 abc",
		"zxqv wwkk unknown words only",
		strings.Repeat("Signal Fehler échec ", 200),
		"ünïcödé ñ 日本語 русский ελληνικά",
	)
	queryPath := write("queries.txt", queries)

	run := func(t *testing.T, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(ft, args...)
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("fasttext %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return out
	}

	type variant struct {
		name     string
		input    string
		train    []string // extra supervised flags
		quantize []string // nil: use the .bin
	}
	var variants []variant
	for _, base := range []struct {
		name  string
		input string
		flags []string
	}{
		{"hs", trainPath, []string{"-loss", "hs"}},
		{"softmax", trainPath, []string{"-loss", "softmax"}},
		{"ova", trainPath, []string{"-loss", "ova"}},
		{"ns", trainPath, []string{"-loss", "ns", "-neg", "3"}},
		{"hs-wordngrams3", trainPath, []string{"-loss", "hs", "-wordNgrams", "3"}},
		{"softmax-nosubwords", trainPath, []string{"-loss", "softmax", "-maxn", "0"}},
		{"hs-300labels", manyPath, []string{"-loss", "hs"}},
	} {
		variants = append(variants,
			variant{base.name + ".bin", base.input, base.flags, nil},
			variant{base.name + "-q.ftz", base.input, base.flags, []string{"-dsub", "3"}},
			variant{base.name + "-qnorm-cutoff.ftz", base.input, base.flags, []string{"-qnorm", "-cutoff", "400", "-dsub", "2"}},
		)
	}
	variants = append(variants,
		variant{"hs-300labels-qout.ftz", manyPath, []string{"-loss", "hs"}, []string{"-qout", "-dsub", "2"}},
		variant{"softmax-300labels-qout-qnorm.ftz", manyPath, []string{"-loss", "softmax"}, []string{"-qout", "-qnorm", "-cutoff", "300", "-dsub", "4"}},
	)

	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.TrimSuffix(strings.TrimSuffix(v.name, ".bin"), ".ftz"))
			args := append([]string{"supervised", "-input", v.input, "-output", out,
				"-dim", "8", "-bucket", "3000", "-minn", "2", "-maxn", "4", "-epoch", "15", "-lr", "0.8",
				"-minCount", "1", "-thread", "1", "-seed", "7", "-verbose", "0"}, v.train...)
			run(t, args...)
			model := out + ".bin"
			if v.quantize != nil {
				run(t, append([]string{"quantize", "-input", v.input, "-output", out, "-verbose", "0"}, v.quantize...)...)
				model = out + ".ftz"
			}
			m, err := LoadFile(model)
			if err != nil {
				t.Fatal(err)
			}
			if m.Quantized() != (v.quantize != nil) {
				t.Errorf("Quantized() = %v", m.Quantized())
			}
			for _, kt := range []struct {
				k         int
				threshold float32
			}{{3, 0}, {-1, 0.02}} {
				want := parsePredictions(t, run(t, "predict-prob", model, queryPath, fmt.Sprint(kt.k), fmt.Sprint(kt.threshold)))
				got := make([][]Prediction, len(queries))
				for i, q := range queries {
					got[i] = m.Predict(q, kt.k, kt.threshold)
				}
				comparePredictions(t, fmt.Sprintf("%s k=%d threshold=%g", v.name, kt.k, kt.threshold), queries, want, got, 1e-4)
			}
		})
	}
}
