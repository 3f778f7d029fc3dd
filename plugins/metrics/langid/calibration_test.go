package langid

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/fasttext"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/internal/mocorpus"
)

// calibSet is labelled text for tuning: single-language messages and code-switched
// pairs (two messages in different languages joined with a space).
type calibSet struct {
	single, mixed         []string
	singleLang            []string
	mixedA, mixedB        []string
	singlePred, mixedPred [][]fasttext.Prediction
	singleLetters         []int
	singleRes, mixedRes   []Result // detection with no thresholds; calibrations re-judge these
	singleOK              []bool   // top guess is the catalog language
}

// buildCalib draws from the languages both in the corpus (>= 1000 messages) and in
// the model; part selects disjoint halves (0: tuning, 1: validation).
func buildCalib(t *testing.T, m *fasttext.Model, corpus map[string][]string, part int) *calibSet {
	known := map[string]bool{}
	for _, l := range m.Labels() {
		known[LabelLang(l)] = true
	}
	var langs []string
	for l, msgs := range corpus {
		if known[l] && len(msgs) >= 1000 {
			langs = append(langs, l)
		}
	}
	sort.Strings(langs)
	if len(langs) < 10 {
		skipOrFail(t, fmt.Sprintf("only %d languages with enough gettext messages for calibration", len(langs)))
	}
	rng := rand.New(rand.NewPCG(42, uint64(part)))
	cs := &calibSet{}
	pick := func(l string) string {
		msgs := corpus[l]
		for {
			i := rng.IntN(len(msgs)/2)*2 + part
			if i < len(msgs) {
				return msgs[i]
			}
		}
	}
	// A text is 1 to 6 messages of one catalog language, so lengths range from a
	// word to a paragraph, as in prompts and responses.
	para := func(l string, k int) string {
		parts := make([]string, k)
		for i := range parts {
			parts[i] = pick(l)
		}
		return strings.Join(parts, " ")
	}
	for _, l := range langs {
		for range 150 {
			cs.single = append(cs.single, para(l, 1+rng.IntN(6)))
			cs.singleLang = append(cs.singleLang, l)
		}
	}
	for range 40 * len(langs) {
		a, b := langs[rng.IntN(len(langs))], langs[rng.IntN(len(langs))]
		if a == b {
			continue
		}
		var x, y string
		k := 1 + rng.IntN(3)
		for {
			x, y = para(a, k), para(b, k)
			la, lb := mocorpus.Letters(x), mocorpus.Letters(y)
			if la >= 20 && lb >= 20 && la < 2*lb && lb < 2*la {
				break
			}
		}
		cs.mixed = append(cs.mixed, x+" "+y)
		cs.mixedA, cs.mixedB = append(cs.mixedA, a), append(cs.mixedB, b)
	}
	cs.singlePred = m.PredictBatch(cs.single, 2, 0, 0)
	cs.mixedPred = m.PredictBatch(cs.mixed, 2, 0, 0)
	raw := &Detector{model: m}
	cs.singleRes = raw.DetectBatch(cs.single, 0)
	cs.mixedRes = raw.DetectBatch(cs.mixed, 0)
	for i, s := range cs.single {
		cs.singleLetters = append(cs.singleLetters, countLetters(s))
		cs.singleOK = append(cs.singleOK, SameLanguage(cs.singleRes[i].Guess, cs.singleLang[i]))
	}
	return cs
}

type calibScore struct {
	cal                    Calibration
	correct, wrong, undSgl float64 // on single-language text
	kept                   float64 // share of correct top-1 answers not turned into und
	undMixed               float64 // on code-switched text
	score                  float64
}

// evaluate applies a calibration to precomputed predictions. A calibration may turn
// at most 1-minKept of the correct top-1 answers into "und"; among those that do not,
// the score is the und rate on code-switched text minus the rate of wrong names on
// single-language text.
func (cs *calibSet) evaluate(c Calibration) calibScore {
	s := calibScore{cal: c}
	for i := range cs.singleRes {
		switch {
		case c.reason(&cs.singleRes[i]) != "":
			s.undSgl++
		case cs.singleOK[i]:
			s.correct++
		default:
			s.wrong++
		}
	}
	for i := range cs.mixedRes {
		if c.reason(&cs.mixedRes[i]) != "" {
			s.undMixed++
		}
	}
	nOK := 0
	for _, ok := range cs.singleOK {
		if ok {
			nOK++
		}
	}
	n, nm := float64(len(cs.single)), float64(len(cs.mixed))
	s.kept = s.correct / float64(nOK)
	s.correct, s.wrong, s.undSgl, s.undMixed = s.correct/n, s.wrong/n, s.undSgl/n, s.undMixed/nm
	s.score = s.undMixed - wrongWeight*s.wrong
	return s
}

// minKept is the share of correct identifications a calibration must keep.
const minKept = 0.9

// wrongWeight is the cost of a wrong name relative to the gain of flagging code-switching.
const wrongWeight = 2

func grid() []Calibration {
	var out []Calibration
	for _, ml := range []int{0, 4, 8, 16} {
		for p := 0; p <= 98; p += 2 {
			for mg := 0; mg <= 90; mg += 10 {
				for _, hp := range []float32{0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9} {
					out = append(out, Calibration{MinLetters: ml, MinProb: float32(p) / 100, MinMargin: float32(mg) / 100, MinHalfProb: hp})
				}
			}
		}
	}
	return out
}

// TestCalibration re-tunes the thresholds on gettext messages and checks that
// DefaultCalibration is (near) optimal on a held-out half and clearly better than
// taking the top label blindly. Run with -v to see the figures.
func TestCalibration(t *testing.T) {
	if testing.Short() {
		t.Skip("calibration needs the corpus and the model")
	}
	t0 := time.Now()
	_, m := testModel(t)
	corpus := testCorpus(t)
	t.Logf("model and corpus ready in %v", time.Since(t0))
	tune := buildCalib(t, m, corpus, 0)
	t.Logf("tuning set ready in %v", time.Since(t0))
	best := calibScore{score: -10}
	bestByHalf := map[float32]calibScore{}
	for _, c := range grid() {
		s := tune.evaluate(c)
		if s.kept < minKept {
			continue
		}
		if s.score > best.score {
			best = s
		}
		if b, ok := bestByHalf[c.MinHalfProb]; !ok || s.score > b.score {
			bestByHalf[c.MinHalfProb] = s
		}
	}
	t.Logf("grid searched in %v", time.Since(t0))
	held := buildCalib(t, m, corpus, 1)
	// Which languages does the top label confuse most (label -> detected)?
	conf := map[string]int{}
	for i, r := range held.singleRes {
		if !SameLanguage(r.Guess, held.singleLang[i]) {
			conf[held.singleLang[i]+"->"+r.Guess]++
		}
	}
	type kv struct {
		k string
		n int
	}
	var cl []kv
	for k, n := range conf {
		cl = append(cl, kv{k, n})
	}
	sort.Slice(cl, func(i, j int) bool { return cl[i].n > cl[j].n || (cl[i].n == cl[j].n && cl[i].k < cl[j].k) })
	t.Logf("most frequent confusions: %v", cl[:min(20, len(cl))])
	def := held.evaluate(DefaultCalibration)
	bestHeld := held.evaluate(best.cal)
	none := held.evaluate(Calibration{})
	report := func(name string, s calibScore) {
		t.Logf("%-22s %+v  single: correct %.3f wrong %.3f und %.3f kept %.3f | code-switched und %.3f | score %.3f",
			name, s.cal, s.correct, s.wrong, s.undSgl, s.kept, s.undMixed, s.score)
	}
	t.Logf("%d single-language texts, %d code-switched pairs per half", len(held.single), len(held.mixed))
	report("tuned (tuning half)", best)
	report("tuned (held-out)", bestHeld)
	report("default (held-out)", def)
	report("no calibration", none)
	halves := make([]float32, 0, len(bestByHalf))
	for h := range bestByHalf {
		halves = append(halves, h)
	}
	sort.Slice(halves, func(i, j int) bool { return halves[i] < halves[j] })
	for _, h := range halves {
		report(fmt.Sprintf("best, MinHalfProb %.2f", h), held.evaluate(bestByHalf[h].cal))
	}
	// The default deliberately takes MinHalfProb 0.7 rather than the optimum's lower
	// value, which splits close relatives (Tagalog halves read as Cebuano at 0.6): it
	// must be the best calibration at that setting and clearly beat having no halves check.
	at := held.evaluate(bestByHalf[DefaultCalibration.MinHalfProb].cal)
	noHalves := held.evaluate(bestByHalf[0].cal)
	if def.score < at.score-0.02 || def.score < noHalves.score+0.1 {
		t.Errorf("DefaultCalibration scores %.3f on held-out data; the re-tuned %+v scores %.3f, without halves %.3f: update DefaultCalibration and the package doc", def.score, at.cal, at.score, noHalves.score)
	}
	t.Logf("optimum over the whole grid: %+v (held-out score %.3f)", best.cal, bestHeld.score)
	if def.wrong > 0.6*none.wrong || def.undMixed < 0.5 || def.kept < minKept-0.02 {
		t.Errorf("DefaultCalibration (wrong %.3f, code-switched und %.3f, kept %.3f) is not clearly better than no calibration (wrong %.3f)", def.wrong, def.undMixed, def.kept, none.wrong)
	}
	// Accuracy by length, to justify MinLetters.
	var b strings.Builder
	edges := []int{1, 5, 10, 20, 40, 80, 160, 1 << 30}
	for e := range len(edges) - 1 {
		lo, hi := edges[e], edges[e+1]-1
		n, ok := 0, 0
		for i, p := range held.singlePred {
			if l := held.singleLetters[i]; l >= lo && l <= hi && len(p) > 0 {
				n++
				if SameLanguage(LabelLang(p[0].Label), held.singleLang[i]) {
					ok++
				}
			}
		}
		if n > 0 && hi > 1<<20 {
			fmt.Fprintf(&b, " %d+ letters: %.2f (n=%d);", lo, float64(ok)/float64(n), n)
		} else if n > 0 {
			fmt.Fprintf(&b, " %d-%d letters: %.2f (n=%d);", lo, hi, float64(ok)/float64(n), n)
		}
	}
	t.Logf("top-1 accuracy by length:%s", b.String())
}
