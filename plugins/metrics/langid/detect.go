package langid

import (
	"context"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/fasttext"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/ngram"
)

// Und is the BCP-47 tag for an undetermined language.
const Und = "und"

// Calibration decides when a prediction is too weak to name a language.
// A text is undetermined when it has fewer than MinLetters letters, when the top
// probability is below MinProb, or when the top two are closer than MinMargin
// (the signature of code-switching: two languages share the mass).
//
// Code-switching where one language leads is invisible to those thresholds, because
// fastText's average of word vectors still favours the leading language. So a text with
// at least 2*halfMinLetters letters is also split in two at the whitespace nearest its
// middle: when both halves are identified with probability >= MinHalfProb as different
// languages, the text is undetermined ("code-switched"), unless MaxHalfCross
// is set and a half gives the other half's language more than that (one
// language read as a close relative in a half). MinHalfProb 0 disables this.
type Calibration struct {
	MinLetters   int
	MinProb      float32
	MinMargin    float32
	MinHalfProb  float32
	MaxHalfCross float32
}

// halfMinLetters is the fewest letters a half must have to be judged on its own.
const halfMinLetters = 20

// DefaultCalibration was tuned on held-out human prose (UDHR) for the detector
// with the n-gram profile; see the package documentation.
var DefaultCalibration = Calibration{MinLetters: 4, MinProb: 0.62, MinMargin: 0.25, MinHalfProb: 0.8}

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

	// Halves are the languages of the two halves of a long text ("" when not split).
	Halves    [2]string
	HalfProbs [2]float32
	// HalfCross[i] is half i's probability of the other half's language: low
	// when the halves are really in two languages, higher when one language
	// was read as a close relative in a half.
	HalfCross [2]float32

	Undetermined bool
	Reason       string // why undetermined: "short", "low-confidence", "ambiguous" or "code-switched"
	Letters      int    // letters in the text

}

// Detector identifies languages with a fastText model, optionally joined by
// an n-gram profile, and a calibration. It is safe for concurrent use.
type Detector struct {
	model *fasttext.Model
	cal   Calibration
	ng    *ngram.Profile
	ngIdx map[string]int // language -> index in ng's scores
}

// NewDetector wraps a loaded model; it uses fastText alone.
func NewDetector(m *fasttext.Model, c Calibration) *Detector {
	return &Detector{model: m, cal: c}
}

// WithProfile returns a detector that adds the n-gram profile's evidence to
// the model's (see combine).
func (d *Detector) WithProfile(p *ngram.Profile) *Detector {
	nd := &Detector{model: d.model, cal: d.cal, ng: p, ngIdx: map[string]int{}}
	for i, l := range p.Langs() {
		nd.ngIdx[l] = i
	}
	return nd
}

// ngramWeight scales the n-gram evidence against fastText's: a language's
// score is ln(p_fastText + 1e-4) + ngramWeight * (its n-gram log likelihood
// minus the best language's) / number of n-grams. Per n-gram, so that
// the n-gram model does not overrule fastText more as texts grow. On
// held-out UDHR text larger weights look better (top-1 0.915 at 10, 0.934
// at 20, 0.939 at 40), but that text shares its vocabulary with the
// profile's training half; on other human prose (the quickstart's) 20 and
// 40 are worse than 10, so 10 it is.
const ngramWeight = 10

// combine re-ranks fastText's predictions (all labels) with the n-gram
// profile and returns them as a distribution (softmax of the scores), best
// first. Languages the profile lacks get its worst score. Without a profile
// or letters the predictions are returned as they are.
func (d *Detector) combine(text string, preds []fasttext.Prediction) []fasttext.Prediction {
	if d.ng == nil || len(preds) == 0 {
		return preds
	}
	ns, n := d.ng.Scores(text)
	return d.combineScores(ns, n, preds)
}

// combineScores is combine with the text's n-gram scores already known.
func (d *Detector) combineScores(ns []float64, n int, preds []fasttext.Prediction) []fasttext.Prediction {
	if d.ng == nil || len(preds) == 0 || n == 0 {
		return preds
	}
	best, worst := ns[0], ns[0]
	for _, v := range ns {
		best, worst = max(best, v), min(worst, v)
	}
	out := make([]fasttext.Prediction, len(preds))
	top := math.Inf(-1)
	scores := make([]float64, len(preds))
	for i, p := range preds {
		v := worst
		if j, ok := d.ngIdx[LabelLang(p.Label)]; ok {
			v = ns[j]
		}
		scores[i] = math.Log(float64(min(p.Prob, 1))+1e-4) + ngramWeight*(v-best)/float64(n)
		top = max(top, scores[i])
	}
	var sum float64
	for i := range scores {
		scores[i] = math.Exp(scores[i] - top)
		sum += scores[i]
	}
	for i, p := range preds {
		out[i] = fasttext.Prediction{Label: p.Label, Prob: float32(scores[i] / sum)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Prob > out[j].Prob })
	return out
}

// candidates is how many fastText labels are scored: all of them with a
// profile (the n-gram evidence can lift a language fastText ranks low; the
// tree search for all 176 labels costs little next to the text's features),
// else the two that the calibration looks at.
func (d *Detector) candidates() (whole, half int) {
	if d.ng == nil {
		return 2, 1
	}
	n := len(d.model.Labels())
	return n, n
}

// Open loads a model with LoadModel ("" is the built-in lid.176.ftz) and returns
// a Detector with DefaultCalibration. src and cacheDir are as for EnsureModel.
func Open(ctx context.Context, cacheDir, src string) (*Detector, error) {
	m, err := LoadModel(ctx, cacheDir, src)
	if err != nil {
		return nil, err
	}
	p, err := DefaultProfile()
	if err != nil {
		return nil, err
	}
	return NewDetector(m, DefaultCalibration).WithProfile(p), nil
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
	k, kHalf := d.candidates()
	cut := halfCut(text)
	var halfPreds [2][]fasttext.Prediction
	if cut >= 0 {
		halfPreds[0] = d.model.Predict(text[:cut], kHalf, 0)
		halfPreds[1] = d.model.Predict(text[cut:], kHalf, 0)
	}
	return d.detectOne(text, cut, d.model.Predict(text, k, 0), halfPreds)
}

// detectOne combines a text's (and its halves') fastText predictions with
// the n-gram profile, the halves' n-grams looked up with the whole's.
func (d *Detector) detectOne(text string, cut int, preds []fasttext.Prediction, halfPreds [2][]fasttext.Prediction) Result {
	var halves [2][]fasttext.Prediction
	switch {
	case d.ng == nil:
		preds, halves = d.combine(text, preds), halfPreds
		if cut < 0 {
			halves = [2][]fasttext.Prediction{}
		}
	case cut < 0:
		preds = d.combine(text, preds)
	default:
		h := d.ng.ScoresHalves(text, cut)
		preds = d.combineScores(h.Whole, h.NWhole, preds)
		halves[0] = d.combineScores(h.A, h.NA, halfPreds[0])
		halves[1] = d.combineScores(h.B, h.NB, halfPreds[1])
	}
	return d.result(text, preds, halves)
}

// DetectBatch is Detect over many texts on `workers` goroutines (all cores if < 1).
// A text and its two halves are predicted together, so each of its words is
// looked up once (fasttext.Model.PredictBatchHalves).
func (d *Detector) DetectBatch(texts []string, workers int) []Result {
	cuts := make([]int, len(texts))
	for i, t := range texts {
		cuts[i] = halfCut(t)
	}
	k, kHalf := d.candidates()
	preds, halfPreds := d.model.PredictBatchHalves(texts, cuts, k, kHalf, 0, workers)
	out := make([]Result, len(texts))
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(workers, len(texts)) {
		wg.Add(1)
		go func() { // the n-gram scores cost about as much as the prediction
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(texts); i = int(next.Add(1) - 1) {
				var h [2][]fasttext.Prediction
				if cuts[i] >= 0 {
					h = halfPreds[i]
				}
				out[i] = d.detectOne(texts[i], cuts[i], preds[i], h)
			}
		}()
	}
	wg.Wait()
	return out
}

// splitHalves cuts text at the whitespace nearest its middle (or, for scripts written
// without spaces, at the middle character) when each side has halfMinLetters letters.
func splitHalves(text string) (string, string, bool) {
	cut := halfCut(text)
	if cut < 0 {
		return "", "", false
	}
	return text[:cut], text[cut:], true
}

// halfCut is where splitHalves cuts text, or -1.
func halfCut(text string) int {
	if len(text) < 2*halfMinLetters {
		return -1
	}
	mid := len(text) / 2
	cut := -1
	for off := 0; off < mid && cut < 0; off++ {
		for _, i := range [2]int{mid + off, mid - off} {
			if i > 0 && i < len(text) && isSpaceByte(text[i]) {
				cut = i
				break
			}
		}
	}
	if cut < 0 { // no spaces: cut at a character boundary
		cut = mid
		for cut < len(text) && text[cut]&0xC0 == 0x80 {
			cut++
		}
	}
	if countLetters(text[:cut]) < halfMinLetters || countLetters(text[cut:]) < halfMinLetters {
		return -1
	}
	return cut
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
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

func (d *Detector) result(text string, preds []fasttext.Prediction, halves [2][]fasttext.Prediction) Result {
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
	for i, h := range halves {
		if len(h) > 0 {
			r.Halves[i], r.HalfProbs[i] = LabelLang(h[0].Label), min(h[0].Prob, 1)
		}
	}
	for i, h := range halves {
		for _, p := range h {
			if r.Halves[1-i] != "" && LabelLang(p.Label) == r.Halves[1-i] {
				r.HalfCross[i] = min(p.Prob, 1)
			}
		}
	}
	return d.cal.apply(r)
}

// apply sets Lang, Undetermined and Reason of a raw result from its Guess.
func (c Calibration) apply(r Result) Result {
	r.Reason = c.reason(&r)
	r.Lang, r.Undetermined = r.Guess, r.Reason != ""
	if r.Undetermined {
		r.Lang = Und
	}
	return r
}

// reason says why r is undetermined under c, or "" when its Guess stands.
func (c Calibration) reason(r *Result) string {
	switch {
	case r.Letters < c.MinLetters || r.Guess == "":
		return "short"
	case r.Prob < c.MinProb:
		return "low-confidence"
	case r.Margin < c.MinMargin:
		return "ambiguous"
	case c.MinHalfProb > 0 && r.Halves[0] != "" && r.Halves[1] != "" && r.Halves[0] != r.Halves[1] &&
		r.HalfProbs[0] >= c.MinHalfProb && r.HalfProbs[1] >= c.MinHalfProb &&
		(c.MaxHalfCross == 0 || max(r.HalfCross[0], r.HalfCross[1]) <= c.MaxHalfCross):
		return "code-switched"
	}
	return ""
}
