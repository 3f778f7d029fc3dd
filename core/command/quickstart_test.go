package command_test

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
// binary: the human data must rank first overall and in every language,
// every negative control must be caught by its designated metric in every
// language — worse than the human data with a confidence interval that
// excludes zero — and no recommendation may prefer a control.
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
	langs := []string{"ar", "cs", "de", "es", "id", "ja", "sw", "tl"}
	first := map[string]string{}
	for _, row := range readCSV(t, filepath.Join(report, "cells.csv")) {
		if row["rank"] == "1" {
			first[row["language"]] = row["teacher"]
		}
	}
	for _, l := range langs {
		if first[l] != "human" {
			t.Errorf("in %s %q ranks first, not the human data", l, first[l])
		}
	}
	controls := []string{"wrong-prompts", "scrambled", "truncated", "wrong-language", "near-copies"}
	designated := map[string]int{}
	for _, row := range readCSV(t, filepath.Join(report, "controls.csv")) {
		if row["designated"] != "true" {
			continue
		}
		designated[row["control"]]++
		lo, err1 := strconv.ParseFloat(row["ci_lo"], 64)
		hi, err2 := strconv.ParseFloat(row["ci_hi"], 64)
		significant := err1 == nil && err2 == nil && (lo > 0 || hi < 0)
		if row["caught"] != "true" || row["worse"] != "true" || !significant {
			t.Errorf("control %s (%s) was not caught by %s in %s: effect %s [%s, %s] (%s)",
				row["control"], row["kind"], row["metric"], row["language"], row["effect"], row["ci_lo"], row["ci_hi"], row["test"])
		}
	}
	for _, c := range controls {
		if designated[c] < len(langs) {
			t.Errorf("control %s has designated checks in %d languages, want %d", c, designated[c], len(langs))
		}
	}
	var rep struct {
		Analysis struct {
			Recommendations []struct{ Scope, Kind, Text string } `json:"recommendations"`
		} `json:"analysis"`
	}
	b, err := os.ReadFile(filepath.Join(report, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for _, rec := range rep.Analysis.Recommendations {
		for _, c := range controls {
			if strings.Contains(rec.Text, c) {
				t.Errorf("a recommendation names the control %s: %s (%s): %q", c, rec.Scope, rec.Kind, rec.Text)
			}
		}
	}
	checkComposeBest(t, store)
	html, err := os.ReadFile(filepath.Join(report, "report.html"))
	if err != nil || !strings.Contains(string(html), "<svg") {
		t.Errorf("report.html missing or without plots: %v", err)
	}
	// The example browser carries examples of every metric with a direction,
	// perplexity included (its per-example value is named after the plugin).
	var ex struct{ Metrics []string }
	if i := strings.Index(string(html), `id="examples-data">`); i < 0 {
		t.Error("report.html has no example data")
	} else if err := json.NewDecoder(strings.NewReader(string(html[i+len(`id="examples-data">`):]))).Decode(&ex); err != nil {
		t.Errorf("report.html example data: %v", err)
	}
	for _, m := range []string{"perplexity", "relevance", "langid"} {
		if !slices.Contains(ex.Metrics, m) {
			t.Errorf("the example browser has no %s examples; it has %v", m, ex.Metrics)
		}
	}
}
