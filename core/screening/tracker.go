package screening

import (
	"fmt"
	"slices"
)

// Cell is one teacher × language.
type Cell struct {
	Teacher  string `json:"teacher"`
	Language string `json:"language"`
}

// Stage is one screening stage's outcome.
type Stage struct {
	Index    int       `json:"index"` // 0-based
	N        int       `json:"n"`     // examples per cell the stage scored
	Verdicts []Verdict `json:"verdicts"`
	// Dropped lists the cells the stage stopped, in teacher, language order.
	Dropped []Cell `json:"dropped"`
}

// Tracker carries a screening through its stages: which cells are still
// generating and when the others stopped.
type Tracker struct {
	s         Settings
	teachers  []string
	languages []string
	dropped   map[Cell]int // cell -> stage index it was dropped at
	Stages    []Stage
}

// NewTracker starts a screening of teachers × languages with every cell alive.
func NewTracker(s Settings, teachers, languages []string) *Tracker {
	return &Tracker{s: s.Defaults(), teachers: slices.Clone(teachers), languages: slices.Clone(languages), dropped: map[Cell]int{}}
}

// Alive reports whether c still generates.
func (t *Tracker) Alive(c Cell) bool { _, d := t.dropped[c]; return !d }

// DroppedAt is the index of the stage that dropped c.
func (t *Tracker) DroppedAt(c Cell) (int, bool) { i, ok := t.dropped[c]; return i, ok }

// AliveCells lists the cells still generating, teacher by teacher.
func (t *Tracker) AliveCells() []Cell {
	var out []Cell
	for _, tn := range t.teachers {
		for _, l := range t.languages {
			if c := (Cell{tn, l}); t.Alive(c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// Step decides a stage of n examples per cell from the alive cells'
// scores. A cell without a score (nothing usable generated yet) is kept
// and said so; an overall decision needs a teacher's every alive cell.
func (t *Tracker) Step(n int, scores map[Cell]Candidate) Stage {
	st := Stage{Index: len(t.Stages), N: n}
	decide := func(group string, cands []Candidate) {
		st.Verdicts = append(st.Verdicts, Decide(t.s, group, cands)...)
	}
	switch t.s.Scope {
	case Overall:
		var cands []Candidate
		for _, tn := range t.teachers {
			var cells []Candidate
			complete := true
			for _, l := range t.languages {
				c := Cell{tn, l}
				if !t.Alive(c) {
					continue
				}
				sc, ok := scores[c]
				if !ok {
					complete = false
					continue
				}
				cells = append(cells, sc)
			}
			if len(cells) == 0 && complete {
				continue // dropped earlier
			}
			if !complete {
				st.Verdicts = append(st.Verdicts, Verdict{Candidate: Candidate{Teacher: tn}, Reason: "no score in every language at this stage: kept"})
				continue
			}
			cands = append(cands, Combine(tn, cells, t.s.Confidence))
		}
		decide("", cands)
	default:
		for _, l := range t.languages {
			var cands []Candidate
			for _, tn := range t.teachers {
				c := Cell{tn, l}
				if !t.Alive(c) {
					continue
				}
				sc, ok := scores[c]
				if !ok {
					st.Verdicts = append(st.Verdicts, Verdict{Candidate: Candidate{Teacher: tn}, Group: l, Reason: "no score at this stage: kept"})
					continue
				}
				sc.Teacher = tn
				cands = append(cands, sc)
			}
			decide(l, cands)
		}
	}
	for _, v := range st.Verdicts {
		if !v.Dropped {
			continue
		}
		for _, l := range t.languages {
			if v.Group != "" && v.Group != l {
				continue
			}
			c := Cell{v.Teacher, l}
			if t.Alive(c) {
				t.dropped[c] = st.Index
				st.Dropped = append(st.Dropped, c)
			}
		}
	}
	slices.SortFunc(st.Dropped, func(a, b Cell) int {
		return cmpCell(a, b)
	})
	t.Stages = append(t.Stages, st)
	return st
}

func cmpCell(a, b Cell) int {
	if a.Teacher != b.Teacher {
		if a.Teacher < b.Teacher {
			return -1
		}
		return 1
	}
	if a.Language < b.Language {
		return -1
	}
	if a.Language > b.Language {
		return 1
	}
	return 0
}

// Restore marks cells dropped by earlier stages (a resumed run replays
// the decisions it stored instead of deciding again on data that has
// grown since).
func (t *Tracker) Restore(st Stage) error {
	if st.Index != len(t.Stages) {
		return fmt.Errorf("screening: stage %d restored after %d stages", st.Index+1, len(t.Stages))
	}
	for _, c := range st.Dropped {
		t.dropped[c] = st.Index
	}
	t.Stages = append(t.Stages, st)
	return nil
}

// Amount is a cost in the units a report states savings in.
type Amount struct {
	Requests     float64 `json:"requests"`
	InputTokens  float64 `json:"input_tokens"`
	OutputTokens float64 `json:"output_tokens"`
	USD          float64 `json:"usd"`
	GPUHours     float64 `json:"gpu_hours"`
}

// Scale multiplies every field by f.
func (a Amount) Scale(f float64) Amount {
	return Amount{a.Requests * f, a.InputTokens * f, a.OutputTokens * f, a.USD * f, a.GPUHours * f}
}

// Add is a + b.
func (a Amount) Add(b Amount) Amount {
	return Amount{a.Requests + b.Requests, a.InputTokens + b.InputTokens, a.OutputTokens + b.OutputTokens, a.USD + b.USD, a.GPUHours + b.GPUHours}
}
