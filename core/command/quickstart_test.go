package command_test

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// TestQuickstart runs the README's first command's experiment with the real
// binary: the human data must rank first, and every negative control must
// be caught by its designated metric in every language.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("the quickstart runs the whole pipeline")
	}
	store := t.TempDir()
	start := time.Now()
	r := polyglot(t, repoRoot, "run", "-var", "store="+store, filepath.Join(repoRoot, "examples/quickstart"))
	if r.code != 0 {
		t.Fatalf("quickstart failed: %s", r.stderr)
	}
	t.Logf("quickstart took %v", time.Since(start))
	report := filepath.Join(store, "report")
	ranking := readCSV(t, filepath.Join(report, "ranking.csv"))
	if len(ranking) != 6 || ranking[0]["teacher"] != "human" {
		var order []string
		for _, row := range ranking {
			order = append(order, row["teacher"])
		}
		t.Fatalf("the human data should rank first among 6; ranking: %v", order)
	}
	designated := map[string]int{}
	for _, row := range readCSV(t, filepath.Join(report, "controls.csv")) {
		if row["designated"] != "true" {
			continue
		}
		designated[row["control"]]++
		if row["caught"] != "true" {
			t.Errorf("control %s (%s) was not caught by %s in %s: control %s vs reference %s",
				row["control"], row["kind"], row["metric"], row["language"], row["control_value"], row["reference_value"])
		}
	}
	for _, c := range []string{"wrong-prompts", "scrambled", "truncated", "wrong-language", "near-copies"} {
		if designated[c] < 8 {
			t.Errorf("control %s has designated checks in %d languages, want 8", c, designated[c])
		}
	}
	html, err := os.ReadFile(filepath.Join(report, "report.html"))
	if err != nil || !strings.Contains(string(html), "<svg") {
		t.Errorf("report.html missing or without plots: %v", err)
	}
}
