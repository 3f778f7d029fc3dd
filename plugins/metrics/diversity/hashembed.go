package diversity

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Embedder turns texts into vectors. Implementations must return one vector
// per text, all of the same length; they need not be unit-normalised (the
// Accumulator normalises). A zero vector marks a text with no features
// (such as the empty string); it is left out of the diversity.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Name identifies the embedding model in reports and cache keys.
	Name() string
}

// HashEmbedderOptions configures a HashEmbedder; zero fields take defaults.
type HashEmbedderOptions struct {
	Dim     int    // output dimensions, default 512
	MinN    int    // shortest character n-gram, default 1
	MaxN    int    // longest character n-gram, default 4
	Seed    uint64 // hash seed; different seeds give independent embedders
	Workers int    // goroutines per Embed call, default GOMAXPROCS
}

// HashEmbedder is a deterministic, offline lexical embedder: character
// n-grams of NFC-normalised, lower-cased words, each word framed by boundary
// markers, are counted into Dim signed buckets by feature hashing (the sign
// makes collisions cancel in expectation, so inner products are unbiased
// estimates of n-gram-count inner products) and the result is L2-normalised.
//
// Why hand-written: it is ~60 lines, must be bit-for-bit stable across
// versions (results are compared across runs), and no maintained Go library
// offers hashed character n-grams with a fixed hash.
type HashEmbedder struct {
	dim, minN, maxN, workers int
	seed                     uint64
}

// NewHashEmbedder validates opts and returns the embedder.
func NewHashEmbedder(opts HashEmbedderOptions) (*HashEmbedder, error) {
	h := &HashEmbedder{dim: opts.Dim, minN: opts.MinN, maxN: opts.MaxN, seed: opts.Seed, workers: opts.Workers}
	if h.dim == 0 {
		h.dim = 512
	}
	if h.minN == 0 {
		h.minN = 1
	}
	if h.maxN == 0 {
		h.maxN = 4
	}
	if h.workers <= 0 {
		h.workers = runtime.GOMAXPROCS(0)
	}
	if h.dim < 1 || h.dim > 1<<20 {
		return nil, fmt.Errorf("diversity: hash embedder Dim %d out of range; use 1..1048576 (default 512)", h.dim)
	}
	if h.minN < 1 || h.maxN < h.minN || h.maxN > 16 {
		return nil, fmt.Errorf("diversity: hash embedder n-gram range %d..%d invalid; need 1 <= MinN <= MaxN <= 16", h.minN, h.maxN)
	}
	return h, nil
}

// Dim returns the number of dimensions.
func (h *HashEmbedder) Dim() int { return h.dim }

// Name describes the embedder and its settings.
func (h *HashEmbedder) Name() string {
	return fmt.Sprintf("hash-chargram-%d-%d-d%d-s%d", h.minN, h.maxN, h.dim, h.seed)
}

// Embed embeds texts on up to Workers goroutines.
func (h *HashEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	slab := make([]float32, len(texts)*h.dim)
	for i := range out {
		out[i] = slab[i*h.dim : (i+1)*h.dim : (i+1)*h.dim]
	}
	var wg sync.WaitGroup
	workers := min(h.workers, max(1, len(texts)/64))
	chunk := (len(texts) + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(texts))
		wg.Go(func() {
			var buf []rune
			for i := lo; i < hi; i++ {
				if i%256 == 0 && ctx.Err() != nil {
					return
				}
				buf = h.embedInto(texts[i], out[i], buf)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// EmbedText embeds one text into a new vector.
func (h *HashEmbedder) EmbedText(text string) []float32 {
	v := make([]float32, h.dim)
	h.embedInto(text, v, nil)
	return v
}

// boundary marks the start and end of a word; U+0002/U+0003 (start/end of
// text) cannot survive the word filter below, so they never clash with text.
const boundaryStart, boundaryEnd = '\u0002', '\u0003'

// embedInto writes the embedding of text into dst (len Dim, overwritten) and
// returns buf, a scratch slice reused across calls.
func (h *HashEmbedder) embedInto(text string, dst []float32, buf []rune) []rune {
	clear(dst)
	if !isASCII(text) {
		text = norm.NFC.String(text)
	}
	text = strings.ToLower(text)
	// Words are maximal runs of letters, marks and digits; punctuation and
	// spaces only separate them. Scripts without spaces give long "words",
	// whose inner n-grams still carry the signal.
	buf = buf[:0]
	inWord := false
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || unicode.IsNumber(r) {
			if !inWord {
				buf = append(buf, boundaryStart)
				inWord = true
			}
			buf = append(buf, r)
		} else if inWord {
			buf = append(buf, boundaryEnd)
			inWord = false
		}
	}
	if inWord {
		buf = append(buf, boundaryEnd)
	}
	d := uint64(h.dim)
	for i := range buf {
		// FNV-1a over the n-gram's runes, extended one rune at a time, so
		// each n-gram costs one step; splitmix64's finaliser then spreads
		// the bits before bucketing.
		f := fnvOffset ^ h.seed
		for n := 1; n <= h.maxN && i+n <= len(buf); n++ {
			r := buf[i+n-1]
			if n > 1 && buf[i+n-2] == boundaryEnd {
				break // n-grams never span two words
			}
			f = (f ^ uint64(r)) * fnvPrime
			if n < h.minN || (n == 1 && (r == boundaryStart || r == boundaryEnd)) {
				continue
			}
			x := mix64(f ^ uint64(n))
			idx := (x >> 32) * d >> 32
			if x&1 == 0 {
				dst[idx]++
			} else {
				dst[idx]--
			}
		}
	}
	normalize32(dst)
	return buf
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func normalize32(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return
	}
	inv := 1 / math.Sqrt(ss)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
