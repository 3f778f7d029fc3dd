// Package length measures prompt and response length of a cell's examples, in
// Unicode characters and in tokens of offline tiktoken encodings (o200k_base
// and cl100k_base by default).
//
// The study reports mean token counts (docs/method.md §3); they enter the analyses
// (PCA, regressions) but not the score. Characters are counted as Unicode code
// points of the NFC form, so that a precomposed "é" and "e"+U+0301 count the
// same. Tokens are counted on the raw text, as the tokenizer would see it,
// with special-token strings such as "<|endoftext|>" treated as ordinary text
// (tiktoken's encode_ordinary).
//
// Tokenization uses github.com/tiktoken-go/tokenizer, which compiles the BPE
// rank tables into the binary, so nothing is downloaded at run time. Its
// pre-tokenizer splits a whitespace run like "\n \n" wrongly (wsfix.go), so
// such runs are cut out and encoded here; TestTiktokenReference checks 2,670
// texts (tricky whitespace and Unicode in the quickstart languages, and every
// quickstart seed) against counts made by tiktoken itself.
//
// The Accumulator is streaming: call Add once per batch, then Finish once.
// Add tokenizes a batch on Options.Workers goroutines (the codecs are safe for
// concurrent use); it keeps only integer counts, O(n) memory.
//
// New returns the SDK metric component the host serves as the built-in
// plugin "length" (component.go); NewAccumulator is the library itself.
package length

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
	"golang.org/x/text/unicode/norm"
)

// Encoding names accepted in Options.Encodings.
const (
	O200kBase  = "o200k_base"
	Cl100kBase = "cl100k_base"
)

// DefaultEncodings are used when Options.Encodings is empty.
var DefaultEncodings = []string{O200kBase, Cl100kBase}

// Example is one (prompt, response) pair of a cell.
type Example struct {
	ID       string
	Prompt   string
	Response string
}

// Options configures an Accumulator. The zero value is usable.
type Options struct {
	// Encodings lists tiktoken encodings to count tokens with; empty means
	// DefaultEncodings. Supported: o200k_base, cl100k_base, r50k_base,
	// p50k_base, p50k_edit.
	Encodings []string
	// Workers is the number of goroutines tokenizing a batch; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
}

// Counter counts characters and tokens of single texts. A Counter is not
// safe for concurrent use (it memoises chunk counts); Clone gives each
// goroutine its own, sharing the immutable tokenizers.
type Counter struct {
	names  []string
	codecs []tokenizer.Codec

	// Memo of token counts per chunk (see Tokens): chunk -> offset of its
	// len(codecs) counts in memoCounts. Bounded by memoLimit, then reset.
	memo       map[string]int
	memoCounts []int32
}

// memoLimit bounds the chunk memo (~100 bytes per entry, so ~13 MiB).
const memoLimit = 1 << 17

// NewCounter builds the tokenizers for the named encodings (DefaultEncodings
// when none are given).
func NewCounter(encodings ...string) (*Counter, error) {
	if len(encodings) == 0 {
		encodings = DefaultEncodings
	}
	c := &Counter{}
	seen := map[string]bool{}
	for _, name := range encodings {
		if seen[name] {
			return nil, fmt.Errorf("length: encoding %q listed twice; list each encoding once", name)
		}
		seen[name] = true
		codec, err := tokenizer.Get(tokenizer.Encoding(name))
		if err != nil {
			return nil, fmt.Errorf("length: encoding %q: %w; use one of o200k_base, cl100k_base, r50k_base, p50k_base, p50k_edit", name, err)
		}
		// tiktoken decodes invalid UTF-8 with errors="replace"; do the same
		// so that stray bytes in generated text count like tiktoken would.
		codec.SetErrorMode(tokenizer.ErrorModeReplace)
		c.names = append(c.names, name)
		c.codecs = append(c.codecs, codec)
	}
	return c, nil
}

// Encodings returns the encoding names in the order Tokens reports them.
func (c *Counter) Encodings() []string { return slices.Clone(c.names) }

// Chars returns the number of Unicode code points of the NFC form of text.
func Chars(text string) int {
	if isASCII(text) {
		return len(text) // ASCII is already NFC: skip the normaliser
	}
	return utf8.RuneCountInString(norm.NFC.String(text))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Clone returns a Counter sharing c's tokenizers with an empty memo, for use
// on another goroutine.
func (c *Counter) Clone() *Counter {
	return &Counter{names: c.names, codecs: c.codecs}
}

// Tokens writes the token count of text under each encoding into dst (which
// must have len(Encodings()) elements).
//
// Why chunking: BPE over whole texts costs most of the metric's time, and
// natural text repeats words (Zipf). Text is cut before every U+0020 space
// that follows a non-whitespace character. No pre-tokenizer piece of
// cl100k_base or o200k_base contains a non-whitespace character followed by
// a space (a space only ever starts a piece, and whitespace-only pieces
// contain no non-whitespace), and the patterns use no look-behind, so these
// cuts are piece boundaries and the count of the text is the sum of the
// counts of its chunks. Chunk counts are memoised. TestChunkedMatchesWhole
// checks the equality on random adversarial strings.
func (c *Counter) Tokens(text string, dst []int) error {
	if len(dst) != len(c.codecs) {
		return fmt.Errorf("length: Tokens needs a slice of %d counts, got %d", len(c.codecs), len(dst))
	}
	clear(dst)
	if !utf8.ValidString(text) {
		// Invalid bytes are replaced (tiktoken's errors="replace") before
		// the chunking argument applies; count the text whole.
		return c.countWhole(text, dst)
	}
	if strings.ContainsAny(text, "\r\n") {
		if done, err := c.countNewlineRuns(text, dst); done || err != nil {
			return err
		}
	}
	start := 0
	prevSpace := true // no cut at position 0
	for i, r := range text {
		if r == ' ' && !prevSpace && i > start {
			if err := c.addChunk(text[start:i], dst); err != nil {
				return err
			}
			start = i
		}
		// Err towards "space": a wrong "space" only loses a cut, a wrong
		// "non-space" could cut inside a piece.
		prevSpace = unicode.IsSpace(r) || !unicode.IsGraphic(r)
	}
	if start < len(text) {
		return c.addChunk(text[start:], dst)
	}
	return nil
}

func (c *Counter) addChunk(chunk string, dst []int) error {
	if off, ok := c.memo[chunk]; ok {
		for k := range dst {
			dst[k] += int(c.memoCounts[off+k])
		}
		return nil
	}
	if c.memo == nil || len(c.memo) >= memoLimit {
		c.memo = make(map[string]int, 1024)
		c.memoCounts = c.memoCounts[:0]
	}
	off := len(c.memoCounts)
	for i, codec := range c.codecs {
		n, err := codec.Count(chunk)
		if err != nil {
			c.memoCounts = c.memoCounts[:off]
			return fmt.Errorf("length: %s: %w", c.names[i], err)
		}
		c.memoCounts = append(c.memoCounts, int32(n))
		dst[i] += n
	}
	// Clone so the memo does not pin the caller's (possibly large) text.
	c.memo[strings.Clone(chunk)] = off
	return nil
}

// countWhole counts text without chunking or memo.
func (c *Counter) countWhole(text string, dst []int) error {
	for i, codec := range c.codecs {
		n, err := codec.Count(text)
		if err != nil {
			return fmt.Errorf("length: %s: %w", c.names[i], err)
		}
		dst[i] = n
	}
	return nil
}

// ExampleLengths holds the lengths of one example. Token slices are aligned
// with Result.Encodings.
type ExampleLengths struct {
	ID             string
	PromptChars    int
	ResponseChars  int
	PromptTokens   []int
	ResponseTokens []int
}

// Summary describes one length quantity over a cell.
type Summary struct {
	N      int
	Mean   float64
	Std    float64 // population standard deviation
	Min    float64
	Median float64
	P95    float64
	Max    float64
}

// Result is what Finish returns.
type Result struct {
	Encodings     []string
	PerExample    []ExampleLengths
	PromptChars   Summary
	ResponseChars Summary
	// PromptTokens[k] and ResponseTokens[k] summarise encoding Encodings[k].
	PromptTokens   []Summary
	ResponseTokens []Summary
}

// MeanTokens returns the mean prompt and response token counts under the
// named encoding, the study's "prompt / response length".
func (r *Result) MeanTokens(encoding string) (prompt, response float64, err error) {
	k := slices.Index(r.Encodings, encoding)
	if k < 0 {
		return 0, 0, fmt.Errorf("length: encoding %q was not counted; counted: %v", encoding, r.Encodings)
	}
	return r.PromptTokens[k].Mean, r.ResponseTokens[k].Mean, nil
}

// Accumulator collects lengths batch by batch.
type Accumulator struct {
	counter  *Counter
	pool     []*Counter // one per worker, so memos persist across batches
	finished bool

	ids                []string
	promptChars        []int32
	responseChars      []int32
	promptTok, respTok []int32 // n × len(encodings), row-major
}

// NewAccumulator returns an Accumulator; it fails on unknown encodings.
func NewAccumulator(opts Options) (*Accumulator, error) {
	c, err := NewCounter(opts.Encodings...)
	if err != nil {
		return nil, err
	}
	w := opts.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	a := &Accumulator{counter: c}
	for range w {
		a.pool = append(a.pool, c.Clone())
	}
	return a, nil
}

// ErrFinished is returned by Add and Finish after Finish.
var ErrFinished = errors.New("length: accumulator already finished; create a new one per cell")

// Add measures one batch. It is not safe to call Add concurrently; it uses
// Options.Workers goroutines itself. On error nothing of the batch is kept.
func (a *Accumulator) Add(ctx context.Context, batch []Example) error {
	if a.finished {
		return ErrFinished
	}
	m := len(a.counter.codecs)
	pc := make([]int32, len(batch))
	rc := make([]int32, len(batch))
	pt := make([]int32, len(batch)*m)
	rt := make([]int32, len(batch)*m)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     int
	)
	take := func() int { // hands out example indices to workers
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next >= len(batch) {
			return -1
		}
		next++
		return next - 1
	}
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	workers := min(len(a.pool), max(1, len(batch)))
	for _, counter := range a.pool[:workers] {
		wg.Go(func() {
			buf := make([]int, m)
			for i := take(); i >= 0; i = take() {
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				ex := &batch[i]
				pc[i] = int32(Chars(ex.Prompt))
				rc[i] = int32(Chars(ex.Response))
				if err := counter.Tokens(ex.Prompt, buf); err != nil {
					fail(fmt.Errorf("example %d (id %q) prompt: %w", len(a.ids)+i, ex.ID, err))
					return
				}
				for k, v := range buf {
					pt[i*m+k] = int32(v)
				}
				if err := counter.Tokens(ex.Response, buf); err != nil {
					fail(fmt.Errorf("example %d (id %q) response: %w", len(a.ids)+i, ex.ID, err))
					return
				}
				for k, v := range buf {
					rt[i*m+k] = int32(v)
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	for i := range batch {
		a.ids = append(a.ids, batch[i].ID)
	}
	a.promptChars = append(a.promptChars, pc...)
	a.responseChars = append(a.responseChars, rc...)
	a.promptTok = append(a.promptTok, pt...)
	a.respTok = append(a.respTok, rt...)
	return nil
}

// Finish returns per-example lengths and the cell's summaries. An empty cell
// gives summaries with N = 0 and NaN statistics.
func (a *Accumulator) Finish() (*Result, error) {
	if a.finished {
		return nil, ErrFinished
	}
	a.finished = true
	n, m := len(a.ids), len(a.counter.codecs)
	r := &Result{
		Encodings:      a.counter.Encodings(),
		PerExample:     make([]ExampleLengths, n),
		PromptChars:    summarize(a.promptChars, 0, 1),
		ResponseChars:  summarize(a.responseChars, 0, 1),
		PromptTokens:   make([]Summary, m),
		ResponseTokens: make([]Summary, m),
	}
	for k := range m {
		r.PromptTokens[k] = summarize(a.promptTok, k, m)
		r.ResponseTokens[k] = summarize(a.respTok, k, m)
	}
	// One backing array for all token slices keeps 100k examples cheap.
	flat := make([]int, 2*n*m)
	for i := range n {
		p := flat[2*i*m : 2*i*m+m : 2*i*m+m]
		q := flat[2*i*m+m : 2*i*m+2*m : 2*i*m+2*m]
		for k := range m {
			p[k] = int(a.promptTok[i*m+k])
			q[k] = int(a.respTok[i*m+k])
		}
		r.PerExample[i] = ExampleLengths{
			ID:             a.ids[i],
			PromptChars:    int(a.promptChars[i]),
			ResponseChars:  int(a.responseChars[i]),
			PromptTokens:   p,
			ResponseTokens: q,
		}
	}
	return r, nil
}

// summarize describes the strided column values[off], values[off+stride], ...
func summarize(values []int32, off, stride int) Summary {
	n := 0
	if len(values) > off {
		n = (len(values) - off + stride - 1) / stride
	}
	if n == 0 {
		nan := math.NaN()
		return Summary{Mean: nan, Std: nan, Min: nan, Median: nan, P95: nan, Max: nan}
	}
	col := make([]float64, 0, n)
	sum := 0.0
	for i := off; i < len(values); i += stride {
		v := float64(values[i])
		col = append(col, v)
		sum += v
	}
	mean := sum / float64(n)
	ss := 0.0
	for _, v := range col {
		ss += (v - mean) * (v - mean)
	}
	slices.Sort(col)
	return Summary{
		N:      n,
		Mean:   mean,
		Std:    math.Sqrt(ss / float64(n)),
		Min:    col[0],
		Median: quantile(col, 0.5),
		P95:    quantile(col, 0.95),
		Max:    col[n-1],
	}
}

// quantile interpolates linearly between order statistics (type 7, the
// default of R and NumPy) on sorted data.
func quantile(sorted []float64, q float64) float64 {
	h := q * float64(len(sorted)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

// countNewlineRuns counts text per encoding with the whitespace pieces that
// the library splits wrongly cut out (see wsfix.go), and reports false when
// text has none, leaving dst untouched.
func (c *Counter) countNewlineRuns(text string, dst []int) (bool, error) {
	var segs [2][]segment
	found := false
	for k, marks := range []bool{false, true} {
		segs[k] = splitNewlineRuns(text, marks, nil)
		for _, sg := range segs[k] {
			found = found || sg.ws
		}
	}
	if !found {
		return false, nil
	}
	for i, codec := range c.codecs {
		n := 0
		for _, sg := range segs[b2i(c.names[i] == O200kBase)] {
			if sg.ws && isASCII(sg.text) {
				n += wsBPE(sg.text, whitespaceRanks(c.names[i], codec))
				continue
			}
			m, err := codec.Count(sg.text)
			if err != nil {
				return true, fmt.Errorf("length: %s: %w", c.names[i], err)
			}
			n += m
		}
		dst[i] = n
	}
	return true, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
