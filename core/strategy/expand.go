package strategy

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// Row is one seed row, with the logical fields of spec.SeedColumns.
type Row struct {
	Set        string   // name of the seeds block it came from
	ID         string   // columns.id
	Prompt     string   // columns.prompt
	Response   string   // columns.response
	Language   string   // columns.language, or the seeds block's fixed language
	Strategies []string // columns.strategies: strategies the row may feed; empty = any
	Tags       []string // columns.tags
}

// TaskFamily is one of the ten task families of the generate strategy.
type TaskFamily struct {
	Name        string // short name, recorded in call metadata
	Description string // what the teacher reads in {{task_family}}
}

// TaskFamilies are the ten families of docs/method.md §2, in the order requests
// cycle through them.
var TaskFamilies = []TaskFamily{
	{"reasoning", "reasoning or error analysis: find and explain the flaw in an argument or a worked answer"},
	{"math", "a math problem solved with a step-by-step explanation"},
	{"classification", "classification: sort, label or categorise given items and justify the choice"},
	{"dialogue", "dialogue or role-play: continue or write a conversation in a given role and situation"},
	{"translation", "constrained translation or paraphrase: rewrite a text under explicit constraints of register, length or wording"},
	{"procedure", "a procedure: clear step-by-step instructions for a practical task"},
	{"grammar", "grammar or linguistic analysis of a word, phrase or sentence in the language"},
	{"creative", "short creative writing under given constraints (a poem, a short story, a letter)"},
	{"knowledge", "knowledge recall: a factual question answered accurately with brief context"},
	{"cultural", "cultural or pragmatic judgement: what is appropriate, polite or customary in a situation and why"},
}

// Request is one unit of work for a strategy: a seed row, its in-context
// examples and, for strategies that ask for one, a task family.
type Request struct {
	ID         string // stable: the same inputs give the same ID
	Strategy   string
	Language   string // target language tag
	Index      int    // 0..n-1
	Seed       Row
	Examples   []Row
	TaskFamily string // a TaskFamilies name; "" when no template uses {{task_family}}
}

// Seeds are seed rows in canonical order: by set, id and prompt, ties in
// the order they were read. Rows are selected by their class and read
// when a request needs them, so that a seed set need not be in memory
// (seeds.Index); Rows are held ones.
type Seeds interface {
	Len() int
	Classes() []RowClass
	ClassOf(i int) int
	Row(i int) (Row, error)
}

// RowClass is what decides whether a row feeds a strategy.
type RowClass struct {
	Set        string
	Language   string
	Strategies []string
	Tags       []string
}

// Rows are seed rows held in memory, as Seeds.
type Rows struct {
	rows    []Row
	classes []RowClass
}

// NewRows puts rows, read in any order, in the canonical order.
func NewRows(rows []Row) *Rows {
	out := &Rows{rows: slices.Clone(rows)}
	slices.SortStableFunc(out.rows, func(a, b Row) int {
		if c := strings.Compare(a.Set, b.Set); c != 0 {
			return c
		}
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Prompt, b.Prompt)
	})
	for _, r := range out.rows {
		out.classes = append(out.classes, RowClass{Set: r.Set, Language: r.Language, Strategies: r.Strategies, Tags: r.Tags})
	}
	return out
}

func (r *Rows) Len() int               { return len(r.rows) }
func (r *Rows) Classes() []RowClass    { return r.classes }
func (r *Rows) ClassOf(i int) int      { return i }
func (r *Rows) Row(i int) (Row, error) { return r.rows[i], nil }

// Eligible returns the rows the strategy's input block selects for the
// target language, in a canonical order (by set, id, prompt) so that the
// order rows were read in does not matter.
func Eligible(st *spec.Strategy, rows []Row, target string) []Row {
	src := NewRows(rows)
	var out []Row
	for _, i := range eligible(st, src, nil, target) {
		out = append(out, src.rows[i])
	}
	return out
}

// eligible is Eligible as row numbers of src (4 bytes per row, whatever
// the rows hold), leaving out rows keep rejects (nil keeps all). Whether
// a row is eligible depends only on its class, so each class is judged
// once.
func eligible(st *spec.Strategy, src Seeds, keep func(int) bool, target string) []int32 {
	want := st.Input.Language
	if want == "" || want == "target" {
		want = target
	}
	wantKey, ok := langKey(want)
	if !ok {
		return nil
	}
	classes := src.Classes()
	okClass := make([]bool, len(classes))
	for c := range classes {
		r := &classes[c]
		switch {
		case st.Input.Seeds != "" && r.Set != st.Input.Seeds:
		case len(r.Strategies) > 0 && !slices.Contains(r.Strategies, st.Name):
		case len(st.Input.Tags) > 0 && !slices.ContainsFunc(r.Tags, func(t string) bool { return slices.Contains(st.Input.Tags, t) }):
		default:
			k, ok := langKey(r.Language)
			okClass[c] = ok && k == wantKey
		}
	}
	var out []int32
	for i := range src.Len() {
		if okClass[src.ClassOf(i)] && (keep == nil || keep(i)) {
			out = append(out, int32(i))
		}
	}
	return out
}

// UsesTaskFamily reports whether any template of the strategy uses
// {{task_family}}; such strategies get a family per request. Unreadable
// templates count as not using it (Validate reports them).
func UsesTaskFamily(st *spec.Strategy) bool {
	for _, step := range st.Steps {
		for _, p := range []string{step.System, step.Template} {
			if p == "" {
				continue
			}
			if t, err := loadCached(p); err == nil && t.Uses("task_family") {
				return true
			}
		}
	}
	return false
}

// Expand selects n requests for the target language. Seed rows are drawn
// without replacement in a seeded random order, reshuffled each time the
// eligible rows run out; request i depends only on i and the inputs, not on
// n, so a larger n extends a smaller one. Each request gets
// min(InContext, rows-1) in-context examples distinct from its seed row,
// and task families cycle through TaskFamilies when the strategy uses them.
// It returns nil when no row is eligible (see Eligible).
func Expand(st *spec.Strategy, rows []Row, language string, n int, seed int64) []Request {
	e := NewExpander(st, rows, language, n, seed)
	if e.Len() == 0 {
		return nil
	}
	reqs := make([]Request, 0, e.Len())
	for i := 0; i < e.Len(); i++ {
		req, _ := e.Request(i) // rows in memory cannot fail to read
		reqs = append(reqs, req)
	}
	return reqs
}

// Expander gives the requests of Expand one at a time, so that a unit of
// millions of requests never holds them all (the generator walks them in
// order). It is not safe for concurrent use.
type Expander struct {
	st       *spec.Strategy
	src      Seeds
	pool     []int32 // the eligible rows of src, which must not change
	language string
	seed     int64
	n, k     int
	families bool
	epoch    int     // the epoch perm belongs to; -1 before the first
	perm     []int32 // the seed-row order of that epoch
}

// NewExpander prepares the n requests Expand would return; Len is 0 when
// no row is eligible or n <= 0.
func NewExpander(st *spec.Strategy, rows []Row, language string, n int, seed int64) *Expander {
	return NewSeedsExpander(st, NewRows(rows), nil, language, n, seed)
}

// NewSeedsExpander is NewExpander over the rows of src that keep accepts
// (nil: all); it holds 4 bytes per eligible row and reads the rows of each
// request from src when the request is made.
func NewSeedsExpander(st *spec.Strategy, src Seeds, keep func(int) bool, language string, n int, seed int64) *Expander {
	pool := eligible(st, src, keep, language)
	if len(pool) == 0 || n <= 0 {
		return &Expander{epoch: -1}
	}
	return &Expander{st: st, src: src, pool: pool, language: language, seed: seed, n: n,
		k: min(st.InContext, len(pool)-1), families: UsesTaskFamily(st), epoch: -1}
}

// Fresh is an expander of the same requests that shares e's eligible rows,
// for a second pass that must not disturb the first.
func (e *Expander) Fresh() *Expander {
	c := *e
	c.epoch, c.perm = -1, nil
	return &c
}

// Len is the number of requests.
func (e *Expander) Len() int { return e.n }

// Request returns request i (0 <= i < Len). In-order calls are cheapest:
// the seed order is computed once per pass over the eligible rows.
// The error is one of reading a seed row (seeds.Index reads them from
// their files).
func (e *Expander) Request(i int) (Request, error) {
	if epoch := i / len(e.pool); epoch != e.epoch {
		e.perm = permutation(newRNG(e.seed, e.st.Name, e.language, "order", epoch), len(e.pool))
		e.epoch = epoch
	}
	si := int(e.perm[i%len(e.pool)])
	seed, err := e.src.Row(int(e.pool[si]))
	if err != nil {
		return Request{}, err
	}
	req := Request{Strategy: e.st.Name, Language: e.language, Index: i, Seed: seed}
	if e.k > 0 {
		picked := pickExamples(newRNG(e.seed, e.st.Name, e.language, "examples", i), len(e.pool), si, e.k)
		req.Examples = make([]Row, len(picked))
		for j, p := range picked {
			if req.Examples[j], err = e.src.Row(int(e.pool[p])); err != nil {
				return Request{}, err
			}
		}
	}
	if e.families {
		req.TaskFamily = TaskFamilies[i%len(TaskFamilies)].Name
	}
	req.ID = requestID(e.seed, &req)
	return req, nil
}

// requestID names a request by strategy, language and index, plus a digest
// of everything it contains, so that an ID never refers to different work.
// IDs are part of every stored request key: the bytes hashed and the format
// must never change (TestRequestIDIsStable pins them). They are appended
// by hand because fmt cost a visible share of the host's CPU per request.
func requestID(seed int64, r *Request) string {
	buf := make([]byte, 0, 64+len(r.Seed.Set)+len(r.Seed.ID)+len(r.Seed.Prompt)+len(r.TaskFamily))
	buf = strconv.AppendInt(buf, seed, 10)
	for _, f := range [...]string{r.Seed.Set, r.Seed.ID, r.Seed.Prompt, r.TaskFamily} {
		buf = append(append(buf, 0), f...)
	}
	h := fnv.New64a()
	h.Write(buf)
	for _, e := range r.Examples {
		buf = append(append(append(append(buf[:0], 0), e.Set...), 0), e.ID...)
		h.Write(buf)
	}
	out := make([]byte, 0, len(r.Strategy)+len(r.Language)+24)
	out = append(append(append(append(out, r.Strategy...), '-'), r.Language...), '-')
	out = appendPadded(out, strconv.AppendInt(buf[:0], int64(r.Index), 10), 6, '0')
	out = append(out, '-')
	out = appendPadded(out, strconv.AppendUint(buf[:0], h.Sum64()&0xffffffff, 16), 8, '0')
	return string(out)
}

// appendPadded appends digits left-padded with pad to width, as %06d and
// %08x do (a minus sign, which indexes never have, is not special-cased).
func appendPadded(dst, digits []byte, width int, pad byte) []byte {
	for i := len(digits); i < width; i++ {
		dst = append(dst, pad)
	}
	return append(dst, digits...)
}

func newRNG(seed int64, parts ...any) *rand.PCG {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	for _, p := range parts {
		fmt.Fprintf(h, "\x00%v", p)
	}
	s := h.Sum64()
	return rand.NewPCG(s, s^0x9e3779b97f4a7c15)
}

// intn draws from [0, n) by multiply-high (Lemire); the bias is below
// n/2^64, far under anything that matters here.
func intn(r *rand.PCG, n int) int {
	hi, _ := bits.Mul64(r.Uint64(), uint64(n))
	return int(hi)
}

// pickExamples draws k distinct indices of a pool of n, other than si.
// Few examples from a large pool are drawn by rejection (O(k)); otherwise
// a partial Fisher–Yates over the other indices.
func pickExamples(rng *rand.PCG, n, si, k int) []int {
	if 2*k <= n-1 {
		picked := make([]int, 0, k)
		for len(picked) < k {
			j := intn(rng, n)
			if j == si || slices.Contains(picked, j) {
				continue
			}
			picked = append(picked, j)
		}
		return picked
	}
	idx := make([]int, 0, n-1)
	for j := range n {
		if j != si {
			idx = append(idx, j)
		}
	}
	for j := 0; j < k; j++ {
		r := j + intn(rng, len(idx)-j)
		idx[j], idx[r] = idx[r], idx[j]
	}
	return idx[:k]
}

// permutation is a Fisher–Yates shuffle of 0..n-1, as int32: the order of
// a million eligible rows is 4 MB.
func permutation(r *rand.PCG, n int) []int32 {
	p := make([]int32, n)
	for i := range p {
		p[i] = int32(i)
	}
	for i := n - 1; i > 0; i-- {
		j := intn(r, i+1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
