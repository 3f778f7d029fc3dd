package score

import (
	"fmt"
	"math"
)

// PGR variants (docs/method.md §4).
const (
	RatioThenMean = "ratio_then_mean" // the paper's equation: one ratio per benchmark, then the mean
	MeanThenRatio = "mean_then_ratio" // the study's code: mean of scores, then one ratio
)

// Standardisation variants (docs/method.md §5).
const (
	Published      = "published"      // Intrinsic = mean of z-scores (the published tables)
	Restandardized = "restandardized" // Intrinsic = z-score of that mean, pooled again (the paper's text)
)

// Settings mirrors the spec's `score` block.
type Settings struct {
	Alpha       float64   `json:"alpha"`
	Metrics     []string  `json:"metrics"` // empty = every metric with a direction
	PGR         string    `json:"pgr"`
	Standardize string    `json:"standardize"`
	Confidence  float64   `json:"confidence"`
	Bootstrap   int       `json:"bootstrap"` // resamples; 0 turns the bootstrap off
	Alphas      []float64 `json:"alphas"`
	// Seed seeds the bootstrap's random generator so that results are reproducible.
	Seed uint64 `json:"seed"`
	// RankControls puts negative controls and their reference data into the
	// ranking (by default they are scored apart, on the ranking's pooling).
	RankControls bool `json:"rank_controls,omitempty"`
	// A cell whose generation kept fewer than MinExamples examples (or all it asked for,
	// if that is fewer), or less than MinExampleShare of what it asked for, is reported
	// but not ranked. They apply only where the study has generation records.
	MinExamples     int     `json:"min_examples"`
	MinExampleShare float64 `json:"min_example_share"`
}

// DefaultSettings returns the paper's choices.
func DefaultSettings() Settings {
	return Settings{
		Alpha:       0.5,
		PGR:         RatioThenMean,
		Standardize: Published,
		Confidence:  0.95,
		Bootstrap:   1000,
		Alphas:      []float64{0, 0.25, 0.5, 0.75, 1},
		Seed:        1,

		MinExamples:     5,
		MinExampleShare: 0.5,
	}
}

// Validate reports the first setting that is out of range, saying what is allowed.
func (s Settings) Validate() error {
	if math.IsNaN(s.Alpha) || s.Alpha < 0 || s.Alpha > 1 {
		return fmt.Errorf("score settings: alpha = %v is outside [0, 1]; use 0 for extrinsic only, 1 for intrinsic only", s.Alpha)
	}
	if s.PGR != RatioThenMean && s.PGR != MeanThenRatio {
		return fmt.Errorf("score settings: pgr = %q is unknown; use %q or %q", s.PGR, RatioThenMean, MeanThenRatio)
	}
	if s.Standardize != Published && s.Standardize != Restandardized {
		return fmt.Errorf("score settings: standardize = %q is unknown; use %q or %q", s.Standardize, Published, Restandardized)
	}
	if !(s.Confidence > 0 && s.Confidence < 1) {
		return fmt.Errorf("score settings: confidence = %v must be strictly between 0 and 1 (e.g. 0.95)", s.Confidence)
	}
	if s.Bootstrap < 0 {
		return fmt.Errorf("score settings: bootstrap = %d must be >= 0 (0 turns it off)", s.Bootstrap)
	}
	if s.MinExamples < 0 {
		return fmt.Errorf("score settings: min_examples = %d must be >= 0", s.MinExamples)
	}
	if math.IsNaN(s.MinExampleShare) || s.MinExampleShare < 0 || s.MinExampleShare > 1 {
		return fmt.Errorf("score settings: min_example_share = %v is outside [0, 1]", s.MinExampleShare)
	}
	for i, a := range s.Alphas {
		if math.IsNaN(a) || a < 0 || a > 1 {
			return fmt.Errorf("score settings: alphas[%d] = %v is outside [0, 1]", i, a)
		}
	}
	return nil
}
