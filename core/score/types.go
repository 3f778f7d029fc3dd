package score

import (
	"hash/fnv"
	"strconv"
)

// Direction says which way a metric is better.
type Direction string

// The metric directions of docs/method.md §3.
const (
	Higher Direction = "higher"
	Lower  Direction = "lower"
	None   Direction = "none"
)

// Roles of a benchmarked model (docs/method.md §4).
const (
	RoleStudent   = "student"
	RoleBase      = "base"
	RoleReference = "reference"
)

// MetricRecord is one intrinsic metric value of one cell at one seed.
type MetricRecord struct {
	Teacher   string    `json:"teacher"`
	Language  string    `json:"language"`
	Strategy  string    `json:"strategy,omitempty"` // "" = all strategies together
	Seed      int       `json:"seed"`
	Metric    string    `json:"metric"`
	Value     float64   `json:"value"`
	Direction Direction `json:"direction"`
	// PerExample holds per-example values whose mean is Value (used for the bootstrap).
	PerExample []float64 `json:"per_example,omitempty"`
	// PerExampleKeys, when given, names the prompt behind each per-example value
	// (PairKey): a negative control is then compared with its reference data prompt by
	// prompt, a paired test that sees small but consistent damage.
	PerExampleKeys []string `json:"per_example_keys,omitempty"`
	// N and Stderr summarise the per-example distribution when the values themselves are absent.
	N      int     `json:"n,omitempty"`
	Stderr float64 `json:"stderr,omitempty"`
}

// BenchmarkRecord is the score of one model on one benchmark in one language at one seed.
type BenchmarkRecord struct {
	Role     string `json:"role"`               // student | base | reference
	Teacher  string `json:"teacher,omitempty"`  // students only: whose data trained it
	Strategy string `json:"strategy,omitempty"` // students only: "" = trained on all strategies
	Language string `json:"language"`
	// Student names the student base model (e.g. "olmo-3-7b"); base and reference records name
	// the student they anchor.
	Student       string  `json:"student"`
	StudentFamily string  `json:"student_family,omitempty"` // "" = the Student name
	Seed          int     `json:"seed"`
	Benchmark     string  `json:"benchmark"`
	Score         float64 `json:"score"`
	Stderr        float64 `json:"stderr,omitempty"`
}

// TeacherInfo holds facts about a teacher used by the analyses.
type TeacherInfo struct {
	Teacher           string  `json:"teacher"`
	Family            string  `json:"family,omitempty"`
	Parameters        float64 `json:"parameters,omitempty"`         // parameter count; 0 = unknown
	BenchmarkStrength float64 `json:"benchmark_strength,omitempty"` // 0 = unknown
	CostUSD           float64 `json:"cost_usd,omitempty"`
	// SavedUSD is the part of CostUSD the response cache answered: paid
	// by an earlier run, not by this experiment.
	SavedUSD float64 `json:"saved_usd,omitempty"`
	Examples int     `json:"examples,omitempty"`
}

// Control is a negative control: a pseudo-teacher whose data was corrupted on purpose.
// Its metric records use Name as the teacher; Reference names the pseudo-teacher holding the
// metrics of the uncorrupted reference data. CaughtBy lists the metrics expected to see it.
type Control struct {
	Name      string   `json:"control"`
	Kind      string   `json:"kind,omitempty"`
	Reference string   `json:"reference"`
	CaughtBy  []string `json:"caught_by"`
}

// Example is one generated example with its value under one metric, for the example browser.
type Example struct {
	Teacher  string  `json:"teacher"`
	Language string  `json:"language"`
	Strategy string  `json:"strategy,omitempty"`
	Metric   string  `json:"metric"`
	ID       string  `json:"id,omitempty"`
	Value    float64 `json:"value"`
	Prompt   string  `json:"prompt"`
	Response string  `json:"response"`
}

// GenerationRecord counts what one (teacher, language, strategy, seed) generated:
// examples kept and requests that failed for good, with the failures' reasons.
type GenerationRecord struct {
	Teacher  string         `json:"teacher"`
	Language string         `json:"language"`
	Strategy string         `json:"strategy,omitempty"`
	Seed     int            `json:"seed"`
	Examples int            `json:"examples"`
	Failures int            `json:"failures"`
	Reasons  map[string]int `json:"reasons,omitempty"` // failure reason → count
}

// PairKey identifies a prompt for pairing per-example values across teachers.
func PairKey(prompt string) string {
	h := fnv.New64a()
	h.Write([]byte(prompt))
	return strconv.FormatUint(h.Sum64(), 16)
}

// Study is everything a scoring run reads.
type Study struct {
	Metrics    []MetricRecord     `json:"metrics"`
	Benchmarks []BenchmarkRecord  `json:"benchmarks"`
	Teachers   []TeacherInfo      `json:"teachers"`
	Controls   []Control          `json:"controls,omitempty"`
	Examples   []Example          `json:"examples,omitempty"`
	Generation []GenerationRecord `json:"generation,omitempty"`
}

// Teacher returns the info for a teacher, or a zero value with the name filled in.
func (s *Study) Teacher(name string) TeacherInfo {
	for _, t := range s.Teachers {
		if t.Teacher == name {
			return t
		}
	}
	return TeacherInfo{Teacher: name}
}
