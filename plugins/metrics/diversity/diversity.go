// Package diversity computes the prompt and response diversity of a cell
// (docs/method.md §3): 1 − the mean cosine similarity over all off-diagonal pairs
// of the texts' embeddings, plus a per-example value.
//
// With unit vectors u_i and S = Σ u_i, the mean off-diagonal cosine is
// (‖S‖² − Σ‖u_i‖²) / (n(n−1)), so the metric is exact and streams in O(n·d)
// time and O(d) memory; the study materialised the n×n matrix instead. The
// per-example value is 1 − the mean cosine of u_i to all other vectors,
// 1 − (u_i·S − ‖u_i‖²)/(n − 1), which needs the final S, so it is computed
// at Finish from retained vectors.
//
// Memory choice: the vectors are retained as bfloat16 by default (n·d·2
// bytes per field: 100,000 examples at d = 512 take 98 MiB per field, 195
// MiB for both), or as float32 with Options.Float32 (391 MiB), which leaves
// too little of a 1 GiB budget for the other offline metrics. Re-embedding in a second pass would need
// the texts again, which a streaming host has dropped, and would call a paid
// embedding API twice. Options.NoPerExample drops the vectors and the
// per-example values, leaving O(d) memory. The sums are kept in float64 from
// the float64 unit vectors, so the aggregate equals the n×n definition to
// float64 rounding; per-example values use the retained copies: absolute
// error about 1e-7 with float32; with bfloat16 (8-bit mantissa, rounded to
// nearest) at most 2^-8·n/(n−1) and typically ~1e-5, ample for ranking
// examples.
//
// Embedders: HashEmbedder (offline, deterministic hashed character n-grams)
// and Client (any OpenAI-compatible /v1/embeddings endpoint, with cache and
// retries).
//
// New returns the SDK metric component the host serves as the built-in
// plugin "diversity" (component.go); NewAccumulator is the library itself.
package diversity

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Example is one (prompt, response) pair of a cell.
type Example struct {
	ID       string
	Prompt   string
	Response string
}

// FieldResult is the diversity of one field (prompts or responses).
type FieldResult struct {
	// N counts the vectors in the metric; Skipped counts texts whose
	// embedding was the zero vector (e.g. empty or punctuation-only text).
	N, Skipped int
	// MeanCosine is the mean off-diagonal cosine similarity; Diversity is
	// 1 − MeanCosine. Both are NaN when N < 2.
	MeanCosine, Diversity float64
	// PerExample[i] is 1 − the mean cosine of example i to the other N − 1
	// vectors, in the order examples were added; NaN for skipped examples
	// and when N < 2; nil with Options.NoPerExample.
	PerExample []float64
}

// Stream accumulates the diversity of one field from vectors.
type Stream struct {
	dim        int
	keep       bool
	sum        []float64
	sumSq      float64
	n, skipped int
	// Retained unit vectors, row-major in chunks of chunkRows rows (skipped
	// rows zero). Fixed-size chunks avoid the 2–3× transient peak and the
	// copying of a doubling slice.
	chunks   [][]float32 // float32 mode
	chunks16 [][]uint16  // bfloat16 mode
	f32      bool
	rows     int
	finished bool
}

// NewStream returns a Stream; keepVectors enables per-example values, with
// the vectors kept as bfloat16 (float32 when f32). The dimension is fixed by
// the first vector added.
func NewStream(keepVectors, f32 bool) *Stream { return &Stream{keep: keepVectors, f32: f32} }

// Add adds one vector (normalised here; a zero vector counts as skipped).
// On error the Stream is unchanged.
func (s *Stream) Add(v []float32) error {
	if err := s.check(v); err != nil {
		return err
	}
	if s.dim == 0 {
		s.dim = len(v)
		s.sum = make([]float64, s.dim)
	}
	var row []float32
	var row16 []uint16
	if s.keep {
		row, row16 = s.nextRow()
	}
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		s.skipped++
		return nil
	}
	inv := 1 / math.Sqrt(ss)
	var us float64
	for j, x := range v {
		u := float64(x) * inv
		s.sum[j] += u
		us += u * u
		if row != nil {
			row[j] = float32(u)
		} else if row16 != nil {
			row16[j] = toBF16(float32(u))
		}
	}
	s.sumSq += us
	s.n++
	return nil
}

const chunkRows = 1024

// nextRow returns the zeroed storage of the next retained row, in the
// stream's precision (the other slice is nil).
func (s *Stream) nextRow() ([]float32, []uint16) {
	r := s.rows % chunkRows
	s.rows++
	lo, hi := r*s.dim, (r+1)*s.dim
	if s.f32 {
		if r == 0 {
			s.chunks = append(s.chunks, make([]float32, chunkRows*s.dim))
		}
		return s.chunks[len(s.chunks)-1][lo:hi:hi], nil
	}
	if r == 0 {
		s.chunks16 = append(s.chunks16, make([]uint16, chunkRows*s.dim))
	}
	return nil, s.chunks16[len(s.chunks16)-1][lo:hi:hi]
}

// rowDot returns (row i)·sum and ‖row i‖² from the retained copy.
func (s *Stream) rowDot(i int) (dot, self float64) {
	lo, hi := (i%chunkRows)*s.dim, (i%chunkRows+1)*s.dim
	if s.f32 {
		for j, x := range s.chunks[i/chunkRows][lo:hi] {
			u := float64(x)
			dot += u * s.sum[j]
			self += u * u
		}
		return dot, self
	}
	for j, x := range s.chunks16[i/chunkRows][lo:hi] {
		u := float64(math.Float32frombits(uint32(x) << 16))
		dot += u * s.sum[j]
		self += u * u
	}
	return dot, self
}

// toBF16 rounds f to the nearest bfloat16 (ties to even); inputs here are
// finite components of unit vectors.
func toBF16(f float32) uint16 {
	b := math.Float32bits(f)
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// check reports why v cannot be added, without changing s.
func (s *Stream) check(v []float32) error {
	if s.finished {
		return errFinished
	}
	if len(v) == 0 {
		return errors.New("diversity: embedding has no dimensions; check the embedder")
	}
	if s.dim != 0 && len(v) != s.dim {
		return fmt.Errorf("diversity: embedding has %d dimensions, earlier ones had %d; use one embedder per cell", len(v), s.dim)
	}
	for j, x := range v {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("diversity: embedding has NaN or Inf at dimension %d; check the embedder", j)
		}
	}
	return nil
}

var errFinished = errors.New("diversity: already finished; create a new accumulator per cell")

// Finish computes the aggregate and, if vectors were kept, the per-example
// values.
func (s *Stream) Finish() (FieldResult, error) {
	if s.finished {
		return FieldResult{}, errFinished
	}
	s.finished = true
	r := FieldResult{N: s.n, Skipped: s.skipped, MeanCosine: math.NaN(), Diversity: math.NaN()}
	n := float64(s.n)
	var s2 float64
	for _, x := range s.sum {
		s2 += x * x
	}
	if s.n >= 2 {
		r.MeanCosine = (s2 - s.sumSq) / (n * (n - 1))
		r.Diversity = 1 - r.MeanCosine
	}
	if s.keep {
		total := s.n + s.skipped
		r.PerExample = make([]float64, total)
		for i := range total {
			dot, self := s.rowDot(i)
			if self == 0 || s.n < 2 {
				r.PerExample[i] = math.NaN()
				continue
			}
			r.PerExample[i] = 1 - (dot-self)/(n-1)
		}
		s.chunks, s.chunks16 = nil, nil // let the GC take the vectors before the caller continues
	}
	return r, nil
}

// Options configures an Accumulator.
type Options struct {
	// Embedder embeds prompts and responses; nil means a HashEmbedder with
	// default settings.
	Embedder Embedder
	// NoPerExample skips per-example values and retains no vectors.
	NoPerExample bool
	// Float32 retains vectors as float32 instead of bfloat16 (twice the
	// memory, per-example error ~1e-7 instead of ~1e-5).
	Float32 bool
}

// Result is what Accumulator.Finish returns.
type Result struct {
	Embedder string
	Dim      int
	IDs      []string // example IDs in the order PerExample values are given
	Prompt   FieldResult
	Response FieldResult
}

// Accumulator computes prompt and response diversity batch by batch.
type Accumulator struct {
	emb              Embedder
	prompt, response *Stream
	ids              []string
}

// NewAccumulator returns an Accumulator.
func NewAccumulator(opts Options) (*Accumulator, error) {
	emb := opts.Embedder
	if emb == nil {
		h, err := NewHashEmbedder(HashEmbedderOptions{})
		if err != nil {
			return nil, err
		}
		emb = h
	}
	return &Accumulator{emb: emb, prompt: NewStream(!opts.NoPerExample, opts.Float32), response: NewStream(!opts.NoPerExample, opts.Float32)}, nil
}

// Add embeds a batch and adds it. On an embedding error nothing of the
// batch is kept, so the caller may retry the batch.
func (a *Accumulator) Add(ctx context.Context, batch []Example) error {
	if a.prompt.finished {
		return errFinished
	}
	if len(batch) == 0 {
		return nil
	}
	prompts := make([]string, len(batch))
	responses := make([]string, len(batch))
	for i, e := range batch {
		prompts[i], responses[i] = e.Prompt, e.Response
	}
	pv, err := a.emb.Embed(ctx, prompts)
	if err != nil {
		return fmt.Errorf("diversity: embedding prompts of examples %d..%d: %w", len(a.ids), len(a.ids)+len(batch)-1, err)
	}
	rv, err := a.emb.Embed(ctx, responses)
	if err != nil {
		return fmt.Errorf("diversity: embedding responses of examples %d..%d: %w", len(a.ids), len(a.ids)+len(batch)-1, err)
	}
	if len(pv) != len(batch) || len(rv) != len(batch) {
		return fmt.Errorf("diversity: embedder %s returned %d/%d vectors for %d texts", a.emb.Name(), len(pv), len(rv), len(batch))
	}
	// Validate the whole batch first so that a bad vector leaves no part
	// of the batch behind.
	for i := range batch {
		err := a.prompt.check(pv[i])
		if err == nil && len(rv[i]) != len(pv[i]) && a.prompt.dim == 0 {
			err = fmt.Errorf("diversity: response embedding has %d dimensions, prompt embedding %d", len(rv[i]), len(pv[i]))
		}
		if err == nil && i > 0 && len(pv[i]) != len(pv[0]) {
			err = fmt.Errorf("diversity: embedding has %d dimensions, example %d of the batch had %d", len(pv[i]), len(a.ids), len(pv[0]))
		}
		if err == nil {
			err = a.response.check(rv[i])
		}
		if err == nil && i > 0 && len(rv[i]) != len(rv[0]) {
			err = fmt.Errorf("diversity: response embedding has %d dimensions, example %d of the batch had %d", len(rv[i]), len(a.ids), len(rv[0]))
		}
		if err != nil {
			return fmt.Errorf("example %d (id %q): %w", len(a.ids)+i, batch[i].ID, err)
		}
	}
	for i := range batch {
		if err := a.prompt.Add(pv[i]); err != nil {
			return fmt.Errorf("example %d (id %q) prompt: %w", len(a.ids), batch[i].ID, err)
		}
		if err := a.response.Add(rv[i]); err != nil {
			return fmt.Errorf("example %d (id %q) response: %w", len(a.ids), batch[i].ID, err)
		}
		a.ids = append(a.ids, batch[i].ID)
	}
	return nil
}

// Finish returns the cell's diversity and per-example values.
func (a *Accumulator) Finish() (*Result, error) {
	p, err := a.prompt.Finish()
	if err != nil {
		return nil, err
	}
	r, err := a.response.Finish()
	if err != nil {
		return nil, err
	}
	return &Result{Embedder: a.emb.Name(), Dim: a.prompt.dim, IDs: a.ids, Prompt: p, Response: r}, nil
}
