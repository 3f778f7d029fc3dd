// Package kn is an interpolated Kneser-Ney character n-gram language model.
//
// It is the language model behind polyglot's embedded "cpu" student: small,
// pure Go, trainable on 10^7–10^8 characters in seconds, and able to continue
// training (add the counts of new text to an existing model), which is how a
// student is made from a base model plus one cell's data.
//
// # The estimator
//
// The model is interpolated modified Kneser-Ney (Chen & Goodman 1998): three
// discounts per order (D1 for n-grams seen once, D2 twice, D3 for three or more
// times) estimated from that order's counts-of-counts,
//
//	Y = n1/(n1+2·n2), D1 = 1−2Y·n2/n1, D2 = 2−3Y·n3/n2, D3 = 3−4Y·n4/n3.
//
// When a discount cannot be estimated (a tiny corpus with no n-grams seen
// exactly twice, say) or falls outside (0, j], the default Dj = j/2 is used.
// Options.Discount > 0 selects plain interpolated Kneser-Ney instead: one fixed
// discount for every count and order (the tests use it to check probabilities
// against hand arithmetic).
//
// For an order-k n-gram with context h and next character w,
//
//	P_k(w|h) = (max(c_k(h w) − D(c_k(h w)), 0) + γ(h)·P_{k−1}(w|h')) / Σ_x c_k(h x)
//	γ(h)     = D1·N1(h•) + D2·N2(h•) + D3·N3+(h•)
//
// where h' drops the oldest character of h, N_j(h•) counts the distinct
// continuations of h seen j times, and c_k is the raw count at the highest
// order and the continuation count (number of distinct left extensions) at
// lower orders. An unseen context backs off with weight 1.
//
// # Open vocabulary
//
// The recursion ends in a uniform distribution over V+1 outcomes: the V
// characters seen in training and one "unknown" class. So, for every context,
// the probabilities of the V known characters plus P(unknown) sum to exactly 1
// (LogProbUnknown gives the class's share). A character never seen in
// training gets the unknown class's probability spread evenly over all the
// Unicode scalar values the model has not seen (1,112,064 − V of them), so that
// LogProb is a proper distribution over every character and perplexities of
// models with different vocabularies stay comparable: a model does not gain by
// knowing fewer characters.
//
// Texts are padded on the left with order−1 begin-of-text symbols; there is no
// end-of-text symbol, because the model scores characters, not whole strings.
//
// # Why hand-written
//
// No maintained Go library offers a trainable, mergeable character-level KN
// model (the well-kept n-gram tools, KenLM and SRILM, are C++ programs). The
// count storage here is tuned to the use: n-grams are packed into 128-bit keys
// (16 bits per character id, so order ≤ 8 and at most 65,534 distinct
// characters; further new characters count as "unknown"), only the highest
// order keeps raw counts, and lower-order continuation counts are maintained
// incrementally as new highest-order types appear, which makes continued
// training and merging exact.
//
// A Model is not safe for concurrent Add/Merge; once training is finished,
// any number of goroutines may score with it at once.
package kn

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

const (
	// DefaultOrder is the n-gram order used when Options.Order is zero.
	DefaultOrder = 5
	// MaxOrder is the largest order the 128-bit n-gram keys can hold.
	MaxOrder = 8

	bosID   = 0 // begin-of-text padding; never predicted
	unkID   = 1 // the unknown-character class
	symBits = 16
	maxIDs  = 1 << symBits

	// unicodeScalars is the number of Unicode scalar values (code points
	// minus surrogates): the support of the open-vocabulary distribution.
	unicodeScalars = 0x110000 - 0x800
)

// Options configure a new model.
type Options struct {
	// Order is the n-gram order (context length + 1); 0 means DefaultOrder.
	Order int
	// Discount > 0 selects plain interpolated KN with this single discount
	// (it must be ≤ 1); 0 selects modified KN with estimated discounts.
	Discount float64
}

// key packs up to MaxOrder symbol ids, the most recent in the lowest bits.
type key struct{ hi, lo uint64 }

// push appends symbol s and keeps the last n symbols.
func (k key) push(s uint16, n int) key {
	k.hi = k.hi<<symBits | k.lo>>(64-symBits)
	k.lo = k.lo<<symBits | uint64(s)
	return k.keep(n)
}

// keep keeps the last n symbols.
func (k key) keep(n int) key {
	bits := n * symBits
	switch {
	case bits >= 128:
	case bits >= 64:
		k.hi &= (uint64(1) << (bits - 64)) - 1
	default:
		k.hi = 0
		k.lo &= (uint64(1) << bits) - 1
	}
	return k
}

// context drops the most recent symbol.
func (k key) context() key {
	k.lo = k.lo>>symBits | k.hi<<(64-symBits)
	k.hi >>= symBits
	return k
}

// sym returns the i-th most recent symbol (0 = most recent).
func (k key) sym(i int) uint16 {
	shift := i * symBits
	if shift >= 64 {
		return uint16(k.hi >> (shift - 64))
	}
	return uint16(k.lo >> shift)
}

// ctxStat summarises one context at one order.
type ctxStat struct {
	total uint64    // Σ_x c(h x)
	types [3]uint32 // number of x with c(h x) = 1, = 2, ≥ 3
}

// Model is a character n-gram language model. The zero value is not usable;
// call New or Load.
type Model struct {
	order    int
	discount float64

	vocab  []rune          // id -> rune; ids 0 and 1 are reserved
	bmp    []uint16        // rune -> id for the Basic Multilingual Plane (0 = unseen)
	astral map[rune]uint16 // rune -> id above the BMP
	counts []*table        // counts[k-1]: order k; raw at the top order, continuation below
	chars  uint64          // characters trained on

	mu    sync.Mutex
	ready atomic.Bool
	ctx   []map[key]ctxStat
	disc  [][3]float64
}

// New returns an empty model. An empty model assigns every character the
// same probability.
func New(o Options) (*Model, error) {
	if o.Order == 0 {
		o.Order = DefaultOrder
	}
	if o.Order < 1 || o.Order > MaxOrder {
		return nil, fmt.Errorf("kn: order %d is out of range: use 1 to %d", o.Order, MaxOrder)
	}
	if o.Discount < 0 || o.Discount > 1 || math.IsNaN(o.Discount) {
		return nil, fmt.Errorf("kn: discount %g is out of range: use 0 (modified KN) or a value in (0, 1]", o.Discount)
	}
	m := &Model{
		order:    o.Order,
		discount: o.Discount,
		vocab:    []rune{-1, -1},
		bmp:      make([]uint16, 0x10000),
		astral:   map[rune]uint16{},
		counts:   make([]*table, o.Order),
	}
	for i := range m.counts {
		m.counts[i] = newTable(0)
	}
	return m, nil
}

// Order returns the model's n-gram order.
func (m *Model) Order() int { return m.order }

// Chars returns the number of characters the model was trained on.
func (m *Model) Chars() uint64 { return m.chars }

// Vocab returns the characters seen in training, in id order.
func (m *Model) Vocab() []rune {
	out := make([]rune, 0, len(m.vocab)-2)
	return append(out, m.vocab[2:]...)
}

// NGrams returns the number of distinct n-grams stored at each order (index 0
// is order 1).
func (m *Model) NGrams() []int {
	out := make([]int, m.order)
	for i, c := range m.counts {
		out[i] = c.len()
	}
	return out
}

// lookup maps a rune to its id; known is false for characters never trained on.
func (m *Model) lookup(r rune) (id uint16, known bool) {
	if r >= 0 && r < 0x10000 {
		id = m.bmp[r]
	} else {
		id = m.astral[r]
	}
	if id == 0 {
		return unkID, false
	}
	return id, true
}

// intern maps a rune to its id, adding it to the vocabulary if there is room.
func (m *Model) intern(r rune) uint16 {
	if id, ok := m.lookup(r); ok {
		return id
	}
	if len(m.vocab) >= maxIDs {
		return unkID // vocabulary full: see the package doc
	}
	id := uint16(len(m.vocab))
	m.vocab = append(m.vocab, r)
	if r >= 0 && r < 0x10000 {
		m.bmp[r] = id
	} else {
		m.astral[r] = id
	}
	return id
}

// Add trains the model on one more text (a document). It may be called at any
// time, also after scoring: the derived statistics are rebuilt on next use.
func (m *Model) Add(text string) {
	m.ready.Store(false)
	var k key // all zeros = all begin-of-text padding
	for _, r := range text {
		k = k.push(m.intern(r), m.order)
		m.bump(m.order, k, 1)
		m.chars++
	}
}

// bump adds c to the count of n-gram k at order n; when the n-gram is new, its
// suffix gains one distinct left extension at order n−1, and so on down.
func (m *Model) bump(n int, k key, c uint32) {
	for {
		old := m.counts[n-1].add(k, c)
		if old != 0 || n == 1 {
			return
		}
		n--
		k = k.keep(n)
		c = 1
	}
}

// Merge adds the counts of other to m, exactly as if m had also been trained on
// other's texts. Both models must have the same order.
func (m *Model) Merge(other *Model) error {
	if other.order != m.order {
		return fmt.Errorf("kn: cannot merge a model of order %d into one of order %d: train both with the same order", other.order, m.order)
	}
	m.ready.Store(false)
	remap := make([]uint16, len(other.vocab))
	remap[bosID], remap[unkID] = bosID, unkID
	for id := 2; id < len(other.vocab); id++ {
		remap[id] = m.intern(other.vocab[id])
	}
	for k, c := range other.counts[m.order-1].all {
		var nk key
		for i := m.order - 1; i >= 0; i-- {
			nk = nk.push(remap[k.sym(i)], m.order)
		}
		m.bump(m.order, nk, c)
	}
	m.chars += other.chars
	return nil
}

// Clone returns an independent copy of m (a base model is cloned before a
// student continues training on it).
func (m *Model) Clone() *Model {
	c := &Model{
		order:    m.order,
		discount: m.discount,
		vocab:    append([]rune(nil), m.vocab...),
		bmp:      append([]uint16(nil), m.bmp...),
		astral:   make(map[rune]uint16, len(m.astral)),
		counts:   make([]*table, m.order),
		chars:    m.chars,
	}
	for r, id := range m.astral {
		c.astral[r] = id
	}
	for i, t := range m.counts {
		c.counts[i] = t.clone()
	}
	return c
}

// prepare computes per-context statistics and discounts after training.
func (m *Model) prepare() {
	if m.ready.Load() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ready.Load() {
		return
	}
	m.ctx = make([]map[key]ctxStat, m.order)
	m.disc = make([][3]float64, m.order)
	for i, mp := range m.counts {
		stats := make(map[key]ctxStat, mp.len()/2+1)
		var coc [4]float64 // n-grams with count 1, 2, 3, 4
		for k, c := range mp.all {
			h := k.context().keep(i)
			st := stats[h]
			st.total += uint64(c)
			st.types[min(c, 3)-1]++
			stats[h] = st
			if c <= 4 {
				coc[c-1]++
			}
		}
		m.ctx[i] = stats
		m.disc[i] = m.discounts(coc)
	}
	m.ready.Store(true)
}

// discounts returns D1, D2, D3+ for one order from its counts-of-counts.
func (m *Model) discounts(n [4]float64) [3]float64 {
	if m.discount > 0 {
		return [3]float64{m.discount, m.discount, m.discount}
	}
	y := n[0] / (n[0] + 2*n[1])
	var d [3]float64
	for j := range 3 {
		est := float64(j+1) - float64(j+2)*y*n[j+1]/n[j]
		if math.IsNaN(est) || math.IsInf(est, 0) || est <= 0 || est > float64(j+1) {
			est = float64(j+1) / 2
		}
		d[j] = est
	}
	return d
}

// Discounts returns the discounts D1, D2, D3+ used at each order (index 0 is
// order 1).
func (m *Model) Discounts() [][3]float64 {
	m.prepare()
	return append([][3]float64(nil), m.disc...)
}

// prob is P(w | the last order−1 symbols of h).
func (m *Model) prob(h key, w uint16) float64 {
	p := 1 / float64(len(m.vocab)-1) // uniform over known characters + unknown
	for n := 1; n <= m.order; n++ {
		ctx := h.keep(n - 1)
		st, ok := m.ctx[n-1][ctx]
		if !ok {
			break // a longer context containing an unseen one is unseen too
		}
		d := &m.disc[n-1]
		c := m.counts[n-1].get(ctx.push(w, n))
		var num float64
		if c > 0 {
			num = max(float64(c)-d[min(c, 3)-1], 0)
		}
		gamma := d[0]*float64(st.types[0]) + d[1]*float64(st.types[1]) + d[2]*float64(st.types[2])
		p = (num + gamma*p) / float64(st.total)
	}
	return p
}

func (m *Model) contextKey(context string) key {
	var h key
	for _, r := range context {
		id, _ := m.lookup(r)
		h = h.push(id, m.order-1)
	}
	return h
}

// unseenPenalty is log of the number of characters that share the unknown
// class's probability.
func (m *Model) unseenPenalty() float64 {
	return math.Log(float64(unicodeScalars - (len(m.vocab) - 2)))
}

// LogProb returns the natural-log probability of next following context.
// Only the last order−1 characters of context matter; a shorter context is
// treated as the start of a text.
func (m *Model) LogProb(context string, next rune) float64 {
	m.prepare()
	id, known := m.lookup(next)
	lp := math.Log(m.prob(m.contextKey(context), id))
	if !known {
		lp -= m.unseenPenalty()
	}
	return lp
}

// LogProbUnknown returns the natural-log probability, after context, of the
// whole class of characters never seen in training.
func (m *Model) LogProbUnknown(context string) float64 {
	m.prepare()
	return math.Log(m.prob(m.contextKey(context), unkID))
}

// Score returns the total negative log-likelihood (in nats) of text's
// characters given prefix as preceding context, and the number of characters
// scored. prefix's characters are context only and are not counted.
func (m *Model) Score(prefix, text string) (nll float64, n int) {
	m.prepare()
	h := m.contextKey(prefix)
	penalty := m.unseenPenalty()
	for _, r := range text {
		id, known := m.lookup(r)
		nll -= math.Log(m.prob(h, id))
		if !known {
			nll += penalty
		}
		n++
		h = h.push(id, m.order-1)
	}
	return nll, n
}

// Perplexity returns exp(mean per-character negative log-likelihood) of text
// given prefix, or NaN when text is empty.
func (m *Model) Perplexity(prefix, text string) float64 {
	nll, n := m.Score(prefix, text)
	if n == 0 {
		return math.NaN()
	}
	return math.Exp(nll / float64(n))
}

// ErrFormat is wrapped by the errors Load returns for files that are not
// models written by Save.
var ErrFormat = errors.New("not a polyglot Kneser-Ney model file")
