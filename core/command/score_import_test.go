package command_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/score/scoretest"
)

// TestScoreImportRunsEveryAnalysis: a study of 10 teachers × 6 languages imported from
// JSONL (intrinsic metrics with prompt and response length, raw student, base and
// reference benchmark scores, teacher facts, a control, and generation counts) gets
// every analysis from `polyglot score --import`: the study's PCA with 4 components,
// both regressions, α-robustness over cells and teachers, the scale fits, family
// matching, the control check and the generation table with an unranked cell.
func TestScoreImportRunsEveryAnalysis(t *testing.T) {
	st := scoretest.Study(scoretest.Config{Teachers: 10, Languages: []string{"ar", "cs", "de", "es", "id", "ja"}, Seeds: []int{1, 2},
		Students: []string{"olmo", "gemma"}, Controls: true, Seed: 11})
	for _, t0 := range st.Teachers {
		for _, lang := range []string{"ar", "cs", "de", "es", "id", "ja"} {
			g := score.GenerationRecord{Teacher: t0.Teacher, Language: lang, Strategy: "respond", Seed: 1, Examples: 20}
			if t0.Teacher == scoretest.TeacherName(3) && lang == "ja" {
				g.Examples, g.Failures, g.Reasons = 1, 19, map[string]int{"parse_error": 19}
			}
			st.Generation = append(st.Generation, g)
		}
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "study.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := score.WriteJSONL(f, st); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "report")
	r := polyglot(t, dir, "score", "--import", "study.jsonl", "--pca", "study", "--components", "4", "--bootstrap", "0", "--out", out)
	if r.code != 0 {
		t.Fatalf("score --import failed (%d): %s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Result struct {
			Generation []score.CellGeneration `json:"generation"`
			Cells      []json.RawMessage      `json:"cells"`
		} `json:"result"`
		Analysis struct {
			PCA *struct {
				Set        string   `json:"set"`
				Features   []string `json:"features"`
				Components int      `json:"components"`
			} `json:"pca"`
			Regressions []struct {
				Target string `json:"target"`
				K      int    `json:"k"`
			} `json:"regressions"`
			Alpha         *struct{ Level string } `json:"alpha_robustness"`
			AlphaTeachers *struct{ Level string } `json:"alpha_robustness_teachers"`
			Scale         *struct{ N int }        `json:"pg_vs_log10_parameters"`
			Strength      *struct{ N int }        `json:"pg_vs_benchmark_strength"`
			Family        *struct{ MinN int }     `json:"family_matching"`
			Controls      []struct {
				CI *score.Interval `json:"ci"`
			} `json:"controls"`
			Notes []string `json:"notes"`
		} `json:"analysis"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	a := rep.Analysis
	if a.PCA == nil || a.PCA.Set != "study" || len(a.PCA.Features) != 6 || a.PCA.Components != 4 {
		t.Errorf("PCA %+v (notes %v)", a.PCA, a.Notes)
	}
	if len(a.Regressions) != 2 || a.Regressions[0].Target != "benchmark" || a.Regressions[0].K != 4 || a.Regressions[1].Target != "pgr" {
		t.Errorf("regressions %+v (notes %v)", a.Regressions, a.Notes)
	}
	if a.Alpha == nil || a.Alpha.Level != "cells" || a.AlphaTeachers == nil || a.Scale == nil || a.Strength == nil || a.Family == nil {
		t.Errorf("an analysis did not run: %+v; notes %v", a, a.Notes)
	}
	if len(a.Controls) == 0 || a.Controls[0].CI == nil {
		t.Errorf("control checks without intervals: %+v", a.Controls)
	}
	if len(rep.Result.Cells) != 59 || len(rep.Result.Generation) == 0 || rep.Result.Generation[0].Ranked {
		t.Errorf("%d ranked cells (want 59: one has 1 of 20 examples); generation %+v", len(rep.Result.Cells), rep.Result.Generation[:1])
	}
	// The minimums are flags: without them the thin cell is ranked.
	out2 := filepath.Join(dir, "report2")
	if r := polyglot(t, dir, "score", "--import", "study.jsonl", "--bootstrap", "0", "--min-examples", "0", "--min-example-share", "0", "--out", out2); r.code != 0 {
		t.Fatalf("score --min-examples 0 failed: %s", r.stderr)
	}
	if cells := readCSV(t, filepath.Join(out2, "cells.csv")); len(cells) != 60 {
		t.Errorf("with no minimums %d cells are ranked, want 60", len(cells))
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, want := range []string{"Generation failures per cell", "parse_error ×19", "student benchmark score", "α-robustness over teacher × language cells"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}
