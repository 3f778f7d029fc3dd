package report

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/screening"
)

// Screening is what a screened run decided (docs/method.md §9), for the
// report: each stage, who it dropped, on which evidence and what that
// saved. Cells it dropped keep the scores of their last stage.
type Screening struct {
	// Enabled is false when the run was continued without screening: the
	// dropped cells then generated the rest of their data.
	Enabled bool             `json:"enabled"`
	Full    int              `json:"full"` // examples per cell of the full run
	Stages  []ScreeningStage `json:"stages"`
	// Complete lists dropped cells that have all their data anyway (it
	// was generated before the stage dropped them): their scores are full.
	Complete []screening.Cell `json:"complete,omitempty"`
}

// ScreeningStage is one decided stage.
type ScreeningStage struct {
	screening.Stage
	Saved     screening.Amount `json:"saved"`
	SavedJobs int              `json:"saved_jobs"` // training and evaluation jobs not run
}

// Partial tells whether a cell's scores come from a screening stage, and
// which one: its teacher was dropped there and screening is still on.
func (s *Screening) Partial(teacher, language string) (ScreeningStage, bool) {
	if s == nil || !s.Enabled {
		return ScreeningStage{}, false
	}
	for _, c := range s.Complete {
		if c.Teacher == teacher && c.Language == language {
			return ScreeningStage{}, false
		}
	}
	for _, st := range s.Stages {
		for _, c := range st.Dropped {
			if c.Teacher == teacher && c.Language == language {
				return st, true
			}
		}
	}
	return ScreeningStage{}, false
}

// partialMark is the ranking's note for a partial cell.
func (s *Screening) partialMark(teacher, language string) string {
	if st, ok := s.Partial(teacher, language); ok {
		return fmt.Sprintf(" (partial: dropped at stage %d, %d examples)", st.Index+1, st.N)
	}
	return ""
}

// writeScreening writes the report's screening section.
func writeScreening(b *bytes.Buffer, s *Screening) {
	if s == nil || len(s.Stages) == 0 {
		return
	}
	b.WriteString("## Screening\n\n")
	if s.Enabled {
		fmt.Fprintf(b, "Every cell first generated a prefix of its data; after each stage the cells below shown were dropped and generated nothing more. Their scores above are those of their last stage, marked partial. The full run is %d examples per cell.\n\n", s.Full)
	} else {
		b.WriteString("This run was continued with screening switched off: every cell, dropped or not, generated the rest of its data, and the scores above are full ones. The stages decided:\n\n")
	}
	var total screening.Amount
	jobs := 0
	for _, st := range s.Stages {
		total, jobs = total.Add(st.Saved), jobs+st.SavedJobs
		fmt.Fprintf(b, "### Stage %d: %d examples per cell\n\n", st.Index+1, st.N)
		if len(st.Dropped) == 0 {
			b.WriteString("Nothing dropped.\n\n")
			continue
		}
		rows := [][]string{{"teacher", "scope", "score", "interval", "best", "evidence"}}
		for _, v := range st.Verdicts {
			if !v.Dropped {
				continue
			}
			scope := v.Group
			if scope == "" {
				scope = "all languages"
			}
			rows = append(rows, []string{v.Teacher, scope, num(v.Mean), ciText(v.Lo, v.Hi, v.HasCI), v.Best, v.Reason})
		}
		mdTable(b, rows)
		fmt.Fprintf(b, "Saved: %s.\n\n", savedText(st.Saved, st.SavedJobs))
	}
	fmt.Fprintf(b, "Saved in all: %s.\n\n", savedText(total, jobs))
}

func savedText(a screening.Amount, jobs int) string {
	parts := []string{
		fmt.Sprintf("%.0f requests", a.Requests),
		fmt.Sprintf("%.0f input and %.0f output tokens (estimated)", a.InputTokens, a.OutputTokens),
		fmt.Sprintf("$%.2f (at the teachers' prices)", a.USD),
		strconv.Itoa(jobs) + " training and evaluation jobs",
	}
	if a.GPUHours > 0 {
		parts = append(parts, fmt.Sprintf("%.1f GPU-hours", a.GPUHours))
	}
	return strings.Join(parts, ", ")
}
