package langid

import (
	"context"
	"strings"
	"unicode"

	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/fasttext"
)

// Und is the BCP-47 tag for an undetermined language.
const Und = "und"

// Calibration decides when a prediction is too weak to name a language.
// A text is undetermined when it has fewer than MinLetters letters, when the top
// probability is below MinProb, or when the top two are closer than MinMargin
// (the signature of code-switching: two languages share the mass).
type Calibration struct {
	MinLetters int
	MinProb    float32
	MinMargin  float32
}

// DefaultCalibration was tuned on gettext messages; see the package documentation.
var DefaultCalibration = Calibration{MinLetters: 4, MinProb: 0.54, MinMargin: 0.1}

// Result is the language and script identified for one text.
type Result struct {
	Lang   string  // BCP-47 language ("de", "ja"), or "und" when Undetermined
	Guess  string  // the model's top language even when Undetermined; "" if there is none
	Prob   float32 // probability of Guess
	Second string  // runner-up language
	Margin float32 // Prob minus the runner-up's probability

	Script         string  // ISO 15924 code of the dominant script of the text
	ScriptShare    float64 // share of the letters written in Script
	ExpectedScript string  // usual script of Guess ("" if unknown)
	ScriptMismatch bool    // Script does not fit ExpectedScript

	Undetermined bool
	Reason       string // why undetermined: "short", "low-confidence" or "ambiguous"
	Letters      int    // letters in the text
}

// Detector identifies languages with a fastText model and a calibration.
// It is safe for concurrent use.
type Detector struct {
	model *fasttext.Model
	cal   Calibration
}

// NewDetector wraps a loaded model.
func NewDetector(m *fasttext.Model, c Calibration) *Detector {
	return &Detector{model: m, cal: c}
}

// Open fetches (or reuses) the default model with EnsureModel and returns a Detector
// with DefaultCalibration. src and cacheDir are as for EnsureModel.
func Open(ctx context.Context, cacheDir, src string) (*Detector, error) {
	path, err := EnsureModel(ctx, cacheDir, src)
	if err != nil {
		return nil, err
	}
	m, err := fasttext.LoadFile(path)
	if err != nil {
		return nil, err
	}
	return NewDetector(m, DefaultCalibration), nil
}

// Model returns the underlying fastText model.
func (d *Detector) Model() *fasttext.Model { return d.model }

// Calibration returns the thresholds in use.
func (d *Detector) Calibration() Calibration { return d.cal }

// LabelLang turns a model label into a language tag: "__label__de" -> "de".
func LabelLang(label string) string {
	return strings.ToLower(strings.TrimPrefix(label, "__label__"))
}

// Detect identifies the language and script of text.
func (d *Detector) Detect(text string) Result {
	var buf [2]fasttext.Prediction
	return d.result(text, d.model.PredictInto(buf[:0], text, 2, 0))
}

// DetectBatch is Detect over many texts on `workers` goroutines (all cores if < 1).
func (d *Detector) DetectBatch(texts []string, workers int) []Result {
	preds := d.model.PredictBatch(texts, 2, 0, workers)
	out := make([]Result, len(texts))
	for i, t := range texts {
		out[i] = d.result(t, preds[i])
	}
	return out
}

func countLetters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

func (d *Detector) result(text string, preds []fasttext.Prediction) Result {
	st := DetectScript(text)
	r := Result{Script: st.Script, ScriptShare: st.Share, Letters: countLetters(text)}
	if len(preds) > 0 {
		r.Guess = LabelLang(preds[0].Label)
		r.Prob = min(preds[0].Prob, 1) // the C++ convention reports p + 1e-5
		r.Margin = r.Prob
		if len(preds) > 1 {
			r.Second = LabelLang(preds[1].Label)
			r.Margin = r.Prob - preds[1].Prob
		}
		r.ExpectedScript = ExpectedScript(r.Guess)
		r.ScriptMismatch = r.Letters > 0 && !ScriptMatches(st.Script, r.ExpectedScript)
	}
	return d.cal.apply(r)
}

// apply sets Lang, Undetermined and Reason of a raw result from its Guess.
func (c Calibration) apply(r Result) Result {
	r.Lang, r.Undetermined, r.Reason = Und, true, ""
	switch {
	case r.Letters < c.MinLetters || r.Guess == "":
		r.Reason = "short"
	case r.Prob < c.MinProb:
		r.Reason = "low-confidence"
	case r.Margin < c.MinMargin:
		r.Reason = "ambiguous"
	default:
		r.Lang, r.Undetermined = r.Guess, false
	}
	return r
}
