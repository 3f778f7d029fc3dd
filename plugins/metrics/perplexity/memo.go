package perplexity

import (
	"github.com/polyglot-teachers/polyglot/plugins/internal/kn"
)

// memoScorer scores texts like kn.Model.Score but remembers the
// log-probability of each n-gram (order−1 context characters + the next one)
// it has computed.
//
// Why: kn computes P(w|h) by interpolating through every order, about two
// hash lookups per order per character (~0.6 µs per character measured on
// the benchmark cell), while natural text repeats most of its n-grams, so one
// lookup in a memo answers most characters. The memo holds at most memoCap
// entries and is cleared when full. Text with many distinct n-grams (a large
// alphabet, as in Chinese or Japanese) misses too often for the memo to pay:
// after probeLookups lookups a scorer whose hit rate is below minHitRate
// drops its memo and calls kn.Model.Score directly from then on. A
// memoScorer is not safe for concurrent use; each worker has its own, over
// one shared read-only model.
type memoScorer struct {
	m     *kn.Model
	order int
	memo  map[gramKey]float64
	ctx   []rune // scratch for the context string

	hits, misses uint64
	bypass       bool
}

const (
	probeLookups = 1 << 18
	minHitRate   = 0.8
)

// memoCap bounds a memo to about 50 MiB.
const memoCap = 1 << 20

// gramKey packs up to kn.MaxOrder runes at 21 bits each.
type gramKey [3]uint64

// bos marks window positions before the start of the text (no rune is this
// large), so a short context is a different key from a long one.
const bos = rune(0x1FFFFF)

func newMemoScorer(m *kn.Model) *memoScorer {
	return &memoScorer{m: m, order: m.Order(), memo: make(map[gramKey]float64, 1<<12)}
}

func (s *memoScorer) key(win []rune, next rune) gramKey {
	var k gramKey
	for i, r := range append(win, next) {
		k[i/3] |= uint64(r&0x1FFFFF) << (21 * (i % 3))
	}
	return k
}

// score returns the negative log-likelihood of text after prefix and the
// number of characters scored, as kn.Model.Score does.
func (s *memoScorer) score(prefix, text string) (nll float64, n int) {
	if s.bypass {
		return s.m.Score(prefix, text)
	}
	if looked := s.hits + s.misses; looked >= probeLookups && float64(s.hits) < minHitRate*float64(looked) {
		s.bypass, s.memo = true, nil
		return s.m.Score(prefix, text)
	}
	h := s.order - 1
	var buf [kn.MaxOrder]rune
	win := buf[:h]
	for i := range win {
		win[i] = bos
	}
	// The last h runes of prefix, oldest first.
	if h > 0 {
		for _, r := range prefix {
			copy(win, win[1:])
			win[h-1] = r
		}
	}
	for _, r := range text {
		k := s.key(win, r)
		lp, ok := s.memo[k]
		if ok {
			s.hits++
		} else {
			s.misses++
			s.ctx = s.ctx[:0]
			for _, c := range win {
				if c != bos {
					s.ctx = append(s.ctx, c)
				}
			}
			lp = s.m.LogProb(string(s.ctx), r)
			if len(s.memo) >= memoCap {
				clear(s.memo)
			}
			s.memo[k] = lp
		}
		nll -= lp
		n++
		if h > 0 {
			copy(win, win[1:])
			win[h-1] = r
		}
	}
	return nll, n
}
