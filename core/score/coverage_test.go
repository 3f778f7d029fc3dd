package score_test

import (
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/score/scoretest"
)

// TestThinCellsAreNotRanked: a cell whose teacher produced 1 example out of 20 (the rest
// failed) is reported with its top failure reasons and left out of the ranking; a cell
// with 15 of 20 is ranked but flagged; the others are ranked as usual.
func TestThinCellsAreNotRanked(t *testing.T) {
	st := scoretest.Study(scoretest.Config{Teachers: 3, Languages: []string{"de", "ja"}, Seed: 8})
	for i := range 3 {
		for _, lang := range []string{"de", "ja"} {
			g := score.GenerationRecord{Teacher: scoretest.TeacherName(i), Language: lang, Strategy: "respond", Seed: 1, Examples: 20}
			switch {
			case i == 0 && lang == "ja":
				g.Examples, g.Failures, g.Reasons = 1, 19, map[string]int{"parse_error": 12, "call_error:timeout": 5, "emit_error": 1, "template_error": 1}
			case i == 1 && lang == "de":
				g.Examples, g.Failures, g.Reasons = 15, 5, map[string]int{"parse_error": 5}
			}
			st.Generation = append(st.Generation, g)
		}
	}
	s := score.DefaultSettings()
	s.Bootstrap = 0
	res, err := score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Cell(scoretest.TeacherName(0), "ja"); ok {
		t.Error("the cell ranked from 1 example out of 20 is in the ranking")
	}
	if _, ok := res.Cell(scoretest.TeacherName(1), "de"); !ok {
		t.Error("the cell with 15 of 20 examples is not ranked")
	}
	if len(res.Cells) != 5 {
		t.Errorf("%d ranked cells, want 5", len(res.Cells))
	}
	g := res.Generation[0] // worst share first
	if g.Teacher != scoretest.TeacherName(0) || g.Language != "ja" || g.Ranked || g.Examples != 1 || g.Failures != 19 ||
		len(g.TopReasons) != 3 || g.TopReasons[0] != (score.ReasonCount{Reason: "parse_error", Count: 12}) || g.TopReasons[1].Count != 5 {
		t.Errorf("worst cell %+v", g)
	}
	kinds := map[string]string{}
	for _, d := range res.Diagnostics {
		kinds[d.Kind+"/"+d.Teacher+"/"+d.Language+"/"+d.Strategy] = d.Message
	}
	thin := kinds[score.KindTooFewExamples+"/"+scoretest.TeacherName(0)+"/ja/"]
	if !strings.Contains(thin, "1 of 20") || !strings.Contains(thin, "parse_error ×12") || !strings.Contains(thin, "not ranked") {
		t.Errorf("too-few-examples diagnostic = %q", thin)
	}
	if m := kinds[score.KindGenerationFailures+"/"+scoretest.TeacherName(1)+"/de/"]; !strings.Contains(m, "15 of 20") {
		t.Errorf("generation-failures diagnostic = %q (all: %v)", m, kinds)
	}
	// The thresholds are settings: with no minimum the thin cell is ranked again.
	s.MinExamples, s.MinExampleShare = 0, 0
	res, err = score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cells) != 6 {
		t.Errorf("without minimums %d cells are ranked, want 6", len(res.Cells))
	}
}

// TestNothingRankable: when every cell failed to generate enough, scoring still succeeds
// (so that the report can show why) with no ranked cell.
func TestNothingRankable(t *testing.T) {
	st := scoretest.Study(scoretest.Config{Teachers: 2, Languages: []string{"de"}, Seed: 8})
	for i := range 2 {
		st.Generation = append(st.Generation, score.GenerationRecord{Teacher: scoretest.TeacherName(i), Language: "de", Strategy: "respond", Seed: 1,
			Examples: 18, Failures: 22, Reasons: map[string]int{"call_error:auth": 22}})
	}
	res, err := score.Compute(st, score.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range res.Diagnostics {
		if d.Kind == score.KindTooFewExamples {
			n++
		}
	}
	if len(res.Cells) != 0 || len(res.Teachers) != 0 || n != 2 {
		t.Errorf("%d cells, %d teachers ranked, %d too-few diagnostics", len(res.Cells), len(res.Teachers), n)
	}
}
