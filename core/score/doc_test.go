package score

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The examples in IMPORT.md must import, so the documentation cannot drift from the code.
func TestImportDocExamples(t *testing.T) {
	b, err := os.ReadFile("IMPORT.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```(json|csv)\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) != 2 {
		t.Fatalf("IMPORT.md has %d example blocks, want a json and a csv one", len(blocks))
	}
	for _, bl := range blocks {
		var st *Study
		if bl[1] == "json" {
			st, err = ReadJSONL(strings.NewReader(bl[2]), "IMPORT.md json example")
		} else {
			st, err = ReadCSV(strings.NewReader(bl[2]), "IMPORT.md csv example")
		}
		if err != nil {
			t.Errorf("%s example: %v", bl[1], err)
			continue
		}
		if len(st.Metrics) == 0 || len(st.Benchmarks) == 0 {
			t.Errorf("%s example imported %d metrics, %d benchmarks", bl[1], len(st.Metrics), len(st.Benchmarks))
		}
	}
}

// BenchmarkCompute10x6 scores 10 teachers × 6 languages × 3 seeds with 4 scored metrics of
// 1,000 per-example values each and a 1,000-resample bootstrap.
func BenchmarkCompute10x6(b *testing.B) {
	st := benchStudy()
	s := DefaultSettings()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Compute(st, s); err != nil {
			b.Fatal(err)
		}
	}
}
