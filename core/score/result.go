package score

// Interval is a confidence interval for a score.
type Interval struct {
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	Method string  `json:"method"` // "t over seeds" | "bootstrap over examples"
	N      int     `json:"n"`      // seeds or resamples behind it
}

// SeedScore is one seed's scores of a cell or teacher.
type SeedScore struct {
	Seed      int     `json:"seed"`
	Intrinsic float64 `json:"intrinsic"`
	Extrinsic float64 `json:"extrinsic"`
	PG        float64 `json:"pg"`
}

// Standing of a teacher relative to the best of its group.
const (
	StandingBest              = "best"
	StandingIndistinguishable = "indistinguishable" // cannot be told apart from the best at the confidence level
	StandingWorse             = "worse"             // significantly below the best
	StandingUnknown           = "unknown"           // no uncertainty information (one seed, no per-example data)
)

// CellScore holds the scores of one (teacher, language, strategy) cell, means over seeds.
type CellScore struct {
	Teacher      string `json:"teacher"`
	Language     string `json:"language"`
	Strategy     string `json:"strategy,omitempty"`
	HasIntrinsic bool   `json:"has_intrinsic"`
	HasExtrinsic bool   `json:"has_extrinsic"`
	// Intrinsic and Extrinsic are means over the seeds that have them.
	Intrinsic float64 `json:"intrinsic"`
	Extrinsic float64 `json:"extrinsic"`
	PG        float64 `json:"pg"`
	// Raw is the mean raw value per metric (every metric, scored or not); Z the mean z-score of
	// the scored metrics; PGR the mean per-benchmark PGR (over students and seeds).
	Raw      map[string]float64 `json:"raw"`
	Z        map[string]float64 `json:"z"`
	PGR      map[string]float64 `json:"pgr,omitempty"`
	Seeds    []SeedScore        `json:"seeds"`
	SeedCI   *Interval          `json:"seed_ci,omitempty"`
	BootCI   *Interval          `json:"bootstrap_ci,omitempty"`
	CI       *Interval          `json:"ci,omitempty"` // SeedCI when there are >= 2 seeds, else BootCI
	Rank     int                `json:"rank"`         // within its language (and strategy)
	Standing string             `json:"standing"`
	Test     string             `json:"test,omitempty"` // how Standing was decided
	boot     []float64
}

// TeacherScore is a teacher's mean over languages (strategy "" cells).
type TeacherScore struct {
	Teacher   string      `json:"teacher"`
	Family    string      `json:"family,omitempty"`
	Intrinsic float64     `json:"intrinsic"`
	Extrinsic float64     `json:"extrinsic"`
	PG        float64     `json:"pg"`
	Languages []string    `json:"languages"`
	Seeds     []SeedScore `json:"seeds"`
	SeedCI    *Interval   `json:"seed_ci,omitempty"`
	BootCI    *Interval   `json:"bootstrap_ci,omitempty"`
	CI        *Interval   `json:"ci,omitempty"`
	Rank      int         `json:"rank"`
	Standing  string      `json:"standing"`
	Test      string      `json:"test,omitempty"`
	boot      []float64
}

// StudentGain is the PGR one student reached on one teacher's data in one language
// (mean over seeds), for the teacher–student family analysis.
type StudentGain struct {
	Teacher       string  `json:"teacher"`
	TeacherFamily string  `json:"teacher_family,omitempty"`
	Language      string  `json:"language"`
	Student       string  `json:"student"`
	StudentFamily string  `json:"student_family"`
	PGR           float64 `json:"pgr"`
}

// MetricStat describes how a metric was pooled.
type MetricStat struct {
	Metric    string    `json:"metric"`
	Direction Direction `json:"direction"`
	Transform string    `json:"transform"` // "x", "-x" or "-log(1+x)"
	InScore   bool      `json:"in_score"`
	Mean      float64   `json:"mean"` // of the oriented value over the ranking units
	SD        float64   `json:"sd"`   // population SD
	Units     int       `json:"units"`
}

// Diagnostic is a finding about the data that a user must know to trust the scores.
type Diagnostic struct {
	Severity  string `json:"severity"` // "warning" | "info"
	Kind      string `json:"kind"`
	Language  string `json:"language,omitempty"`
	Benchmark string `json:"benchmark,omitempty"`
	Student   string `json:"student,omitempty"`
	Teacher   string `json:"teacher,omitempty"`
	Strategy  string `json:"strategy,omitempty"`
	Metric    string `json:"metric,omitempty"`
	Message   string `json:"message"`
}

// Diagnostic kinds.
const (
	KindReferenceNotAboveBase = "reference_not_above_base"
	KindAnchorGapWithinNoise  = "anchor_gap_within_noise"
	KindConstantBenchmark     = "constant_benchmark"
	KindMetricNoSpread        = "metric_no_spread"
	KindMissingAnchor         = "missing_anchor"
	KindMissingMetric         = "missing_metric"
	KindIncompleteCell        = "incomplete_cell"
	KindMissingLanguage       = "missing_language"
	KindTooFewExamples        = "too_few_examples"    // below the minimum: not ranked
	KindGenerationFailures    = "generation_failures" // ranked, but many requests failed
)

// ReasonCount is how often one failure reason occurred.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// CellGeneration is the generation coverage of one cell (over its seeds; a ranking cell,
// strategy "", sums all strategies).
type CellGeneration struct {
	Teacher    string        `json:"teacher"`
	Language   string        `json:"language"`
	Strategy   string        `json:"strategy,omitempty"`
	Examples   int           `json:"examples"`
	Failures   int           `json:"failures"`
	Share      float64       `json:"share"`       // examples / (examples + failures)
	TopReasons []ReasonCount `json:"top_reasons"` // the most frequent failure reasons, at most 3
	Ranked     bool          `json:"ranked"`
}

// Result is the outcome of Compute.
type Result struct {
	Settings   Settings       `json:"settings"`
	Languages  []string       `json:"languages"`
	Strategies []string       `json:"strategies"`
	Metrics    []MetricStat   `json:"metrics"`
	Cells      []CellScore    `json:"cells"`          // strategy "" cells: the ranking
	ByStrategy []CellScore    `json:"strategy_cells"` // cells of named strategies, pooled among themselves
	Controls   []CellScore    `json:"control_cells"`  // controls and reference data, scored on the ranking's pooling
	Teachers   []TeacherScore `json:"teachers"`       // sorted best first
	Students   []StudentGain  `json:"student_gains"`
	// Generation lists the cells' generation coverage (when the study has generation
	// records), worst share first; cells below the settings' minimums are not ranked.
	Generation []CellGeneration `json:"generation,omitempty"`
	// Diagnostics lists anchor and data problems; see the Kind* constants.
	Diagnostics []Diagnostic `json:"diagnostics"`
}

// Cell returns the ranking cell of a teacher and language.
func (r *Result) Cell(teacher, language string) (CellScore, bool) {
	for _, c := range r.Cells {
		if c.Teacher == teacher && c.Language == language {
			return c, true
		}
	}
	return CellScore{}, false
}

// TeacherPGAt recomputes each teacher's PG-Score at another α from the cells' components.
// A cell lacking one component contributes the other, as in Compute.
func (r *Result) TeacherPGAt(alpha float64) map[string]float64 {
	sum := map[string]float64{}
	n := map[string]int{}
	for _, c := range r.Cells {
		sum[c.Teacher] += combine(alpha, c.Intrinsic, c.Extrinsic, c.HasIntrinsic, c.HasExtrinsic)
		n[c.Teacher]++
	}
	out := map[string]float64{}
	for t, s := range sum {
		out[t] = s / float64(n[t])
	}
	return out
}

func combine(alpha, in, ex float64, hasIn, hasEx bool) float64 {
	switch {
	case hasIn && hasEx:
		return alpha*in + (1-alpha)*ex
	case hasIn:
		return in
	default:
		return ex
	}
}

// CellPGAt recomputes the PG-Score of every ranking cell (in the order of Cells) at
// another α from the cell's components, as Compute combines them.
func (r *Result) CellPGAt(alpha float64) []float64 {
	out := make([]float64, len(r.Cells))
	for i, c := range r.Cells {
		out[i] = combine(alpha, c.Intrinsic, c.Extrinsic, c.HasIntrinsic, c.HasExtrinsic)
	}
	return out
}
