// Package duplicates finds exact and near-duplicate prompts and responses
// within a cell and against the seed data (copying seeds is a failure mode
// of the "generate" strategy; docs/method.md §2–3).
//
// Exact duplicates: texts equal after normalisation (NFKC, lower case,
// whitespace runs collapsed to one space, trimmed), found by a 128-bit hash
// of the normalised text.
//
// Near duplicates: the Jaccard similarity of the sets of character k-grams
// ("shingles", k = 5 by default) of the normalised texts is estimated with
// MinHash and candidates are found with LSH banding (b bands of r rows; a
// pair with Jaccard J becomes a candidate with probability 1 − (1 − J^r)^b;
// 16 × 8 puts the 50 % point near J = 0.7, below the default threshold 0.8).
// The signature uses one-permutation hashing with optimal densification
// (Shrivastava, ICML 2017): one hash per shingle instead of one per shingle
// and permutation, 128× less work at the same estimator quality; written by
// hand because no maintained Go library implements it; the hashing and
// the LSH index live in sdk/minhash, shared with the dataset composer.
//
// An example is flagged against the earliest matching example before it in
// the cell (so the first of a group is never a duplicate) and against the
// seeds given to AddSeeds. Prompts are compared with prompts and responses
// with responses. Empty texts are never flagged.
//
// New returns the SDK metric component the host serves as the built-in
// plugin "duplicates" (component.go); NewAccumulator is the library itself.
package duplicates

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/polyglot-teachers/polyglot/sdk/minhash"
)

// Example is one (prompt, response) pair of a cell.
type Example struct {
	ID       string
	Prompt   string
	Response string
}

// Seed is one row of seed data.
type Seed struct {
	ID       string
	Prompt   string
	Response string
}

// Options configures an Accumulator; zero fields take the defaults.
type Options struct {
	Shingle   int     // characters per shingle, default 5
	NumHashes int     // MinHash signature length, default 128
	Bands     int     // LSH bands, default 16; must divide NumHashes
	Threshold float64 // estimated Jaccard at or above which texts are near duplicates, default 0.8
	// MaxCandidates bounds the LSH candidates examined per text (most
	// recent first), default 256, so that a cell full of near-copies stays
	// linear; beyond the bound a better match may be missed.
	MaxCandidates int
	Workers       int    // goroutines computing signatures, default GOMAXPROCS
	HashSeed      uint64 // seed of the shingle hash
}

// Defaults of Options' zero fields.
const (
	DefaultShingle   = 5
	DefaultNumHashes = 128
	DefaultBands     = 16
	DefaultThreshold = 0.8
)

func (o *Options) defaults() error {
	if o.Shingle == 0 {
		o.Shingle = DefaultShingle
	}
	if o.NumHashes == 0 {
		o.NumHashes = DefaultNumHashes
	}
	if o.Bands == 0 {
		o.Bands = DefaultBands
	}
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.MaxCandidates == 0 {
		o.MaxCandidates = 256
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case o.Shingle < 1 || o.Shingle > 64:
		return fmt.Errorf("duplicates: Shingle %d out of range 1..64", o.Shingle)
	case o.NumHashes < 1 || o.NumHashes > 4096:
		return fmt.Errorf("duplicates: NumHashes %d out of range 1..4096", o.NumHashes)
	case o.Bands < 1 || o.NumHashes%o.Bands != 0:
		return fmt.Errorf("duplicates: Bands %d must be positive and divide NumHashes %d", o.Bands, o.NumHashes)
	case o.Threshold < 0 || o.Threshold > 1 || math.IsNaN(o.Threshold):
		return fmt.Errorf("duplicates: Threshold %v must be in (0, 1]", o.Threshold)
	case o.MaxCandidates < 1:
		return fmt.Errorf("duplicates: MaxCandidates %d must be positive", o.MaxCandidates)
	}
	return nil
}

// Flags describes one field (prompt or response) of one example.
type Flags struct {
	// Of is the index (in the cell, in Add order) of the earlier example
	// this text duplicates, or −1. Exact tells whether it is an exact
	// duplicate; otherwise Jaccard ≥ Threshold is the MinHash estimate.
	Of      int
	OfID    string
	Exact   bool
	Jaccard float64
	// SeedID is the seed this text duplicates ("" if none), with
	// SeedExact and SeedJaccard as above.
	SeedID      string
	SeedExact   bool
	SeedJaccard float64
}

// Duplicate reports whether the text duplicates an earlier example.
func (f Flags) Duplicate() bool { return f.Of >= 0 }

// CopiesSeed reports whether the text duplicates a seed.
func (f Flags) CopiesSeed() bool { return f.SeedID != "" }

// ExampleFlags are the flags of one example.
type ExampleFlags struct {
	ID       string
	Prompt   Flags
	Response Flags
	// PairExact: prompt and response together exactly equal an earlier
	// example's (PairOf, else −1) or a seed's (PairSeedID).
	PairOf     int
	PairSeedID string
}

// Rates summarises one field over the cell. Each rate is a share of N
// (all examples, empty texts included); Near counts include exact ones.
type Rates struct {
	N, Empty                int
	Exact, Near             int
	SeedExact, SeedNear     int
	ExactRate, NearRate     float64
	SeedExactRate, SeedRate float64
	MeanJaccardOfDuplicates float64 // mean Jaccard of the Near matches (exact count 1); NaN if none
	MeanJaccardOfSeedCopies float64
}

// Result is what Finish returns.
type Result struct {
	N          int
	Prompt     Rates
	Response   Rates
	PairExact  int // examples whose (prompt, response) exactly repeat an earlier one
	PairSeed   int // examples whose (prompt, response) exactly repeat a seed
	PerExample []ExampleFlags
}

// Accumulator finds duplicates batch by batch.
type Accumulator struct {
	opts     Options
	hasher   *minhash.Hasher
	prompt   *field
	response *field

	seedIDs   []string
	seedPairs map[[16]byte]int32
	cellPairs map[[16]byte]int32
	ids       []string
	flags     []ExampleFlags
	// Rates are counted as examples arrive, so that the SDK component,
	// which judges each batch as it comes, can drop the per-example flags
	// (dropFlags: 184 bytes an example, and a growing slice) instead of
	// keeping them for Finish.
	n, pairExact, pairSeed int
	promptRates            rateCounts
	responseRates          rateCounts
	dropFlags              bool
	started                bool
	finished               bool
}

// rateCounts accumulates one field's Rates.
type rateCounts struct {
	near, exact, seedNear, seedExact int
	jaccard, seedJaccard             float64
}

func (c *rateCounts) add(f Flags) {
	if f.Duplicate() {
		c.near++
		c.jaccard += f.Jaccard
		if f.Exact {
			c.exact++
		}
	}
	if f.CopiesSeed() {
		c.seedNear++
		c.seedJaccard += f.SeedJaccard
		if f.SeedExact {
			c.seedExact++
		}
	}
}

// NewAccumulator returns an Accumulator.
func NewAccumulator(opts Options) (*Accumulator, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	h := minhash.NewHasher(opts.Shingle, opts.NumHashes, opts.HashSeed)
	return &Accumulator{
		opts:      opts,
		hasher:    h,
		prompt:    newField(opts),
		response:  newField(opts),
		seedPairs: map[[16]byte]int32{},
		cellPairs: map[[16]byte]int32{},
	}, nil
}

var (
	// ErrFinished is returned after Finish.
	ErrFinished = errors.New("duplicates: accumulator already finished; create a new one per cell")
	// ErrSeedsAfterExamples is returned by AddSeeds after Add.
	ErrSeedsAfterExamples = errors.New("duplicates: AddSeeds must come before the first Add")
)

// prepare normalises and hashes the prompts and responses of n rows on
// Workers goroutines. get returns row i's prompt and response.
func (a *Accumulator) prepare(ctx context.Context, n int, get func(int) (string, string)) (p, r []minhash.Text, err error) {
	p, r = make([]minhash.Text, n), make([]minhash.Text, n)
	slabP := make([]uint32, n*a.opts.NumHashes)
	slabR := make([]uint32, n*a.opts.NumHashes)
	var wg sync.WaitGroup
	workers := min(a.opts.Workers, max(1, n/16))
	chunk := (n + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		wg.Go(func() {
			var sc minhash.Scratch
			for i := lo; i < hi; i++ {
				if i%128 == 0 && ctx.Err() != nil {
					return
				}
				ps, rs := get(i)
				k := a.opts.NumHashes
				p[i] = a.hasher.Sign(ps, slabP[i*k:(i+1)*k:(i+1)*k], &sc)
				r[i] = a.hasher.Sign(rs, slabR[i*k:(i+1)*k:(i+1)*k], &sc)
			}
		})
	}
	wg.Wait()
	return p, r, ctx.Err()
}

// AddSeeds indexes seed rows; call it (any number of times) before Add.
func (a *Accumulator) AddSeeds(ctx context.Context, seeds []Seed) error {
	if a.finished {
		return ErrFinished
	}
	if a.started {
		return ErrSeedsAfterExamples
	}
	p, r, err := a.prepare(ctx, len(seeds), func(i int) (string, string) { return seeds[i].Prompt, seeds[i].Response })
	if err != nil {
		return err
	}
	for i, s := range seeds {
		id := int32(len(a.seedIDs))
		a.seedIDs = append(a.seedIDs, s.ID)
		a.prompt.seeds.Insert(id, p[i])
		a.response.seeds.Insert(id, r[i])
		if !p[i].Empty || !r[i].Empty {
			if _, ok := a.seedPairs[pairKey(p[i], r[i])]; !ok {
				a.seedPairs[pairKey(p[i], r[i])] = id
			}
		}
	}
	return nil
}

// Add flags a batch against the seeds and all earlier examples. On error
// (a cancelled context) nothing of the batch is kept.
func (a *Accumulator) Add(ctx context.Context, batch []Example) error {
	if a.finished {
		return ErrFinished
	}
	a.started = true
	p, r, err := a.prepare(ctx, len(batch), func(i int) (string, string) { return batch[i].Prompt, batch[i].Response })
	if err != nil {
		return err
	}
	// Matching is sequential: each example is compared with those before it.
	for i, e := range batch {
		idx := int32(len(a.ids))
		a.ids = append(a.ids, e.ID)
		f := ExampleFlags{ID: e.ID, PairOf: -1}
		f.Prompt = a.prompt.match(idx, p[i], a)
		f.Response = a.response.match(idx, r[i], a)
		if !p[i].Empty || !r[i].Empty {
			key := pairKey(p[i], r[i])
			if j, ok := a.cellPairs[key]; ok {
				f.PairOf = int(j)
			} else {
				a.cellPairs[key] = idx
			}
			if s, ok := a.seedPairs[key]; ok {
				f.PairSeedID = a.seedIDs[s]
			}
		}
		a.n++
		a.promptRates.add(f.Prompt)
		a.responseRates.add(f.Response)
		if f.PairOf >= 0 {
			a.pairExact++
		}
		if f.PairSeedID != "" {
			a.pairSeed++
		}
		a.flags = append(a.flags, f)
	}
	return nil
}

func pairKey(p, r minhash.Text) [16]byte {
	var b [32]byte
	copy(b[:16], p.Exact[:])
	copy(b[16:], r.Exact[:])
	s := sha256.Sum256(b[:])
	return [16]byte(s[:16])
}

// Finish returns the rates and per-example flags.
func (a *Accumulator) Finish() (*Result, error) {
	if a.finished {
		return nil, ErrFinished
	}
	a.finished = true
	res := &Result{N: a.n, PairExact: a.pairExact, PairSeed: a.pairSeed}
	if !a.dropFlags {
		res.PerExample = a.flags
	}
	res.Prompt = a.promptRates.rates(a.n, a.prompt.empty)
	res.Response = a.responseRates.rates(a.n, a.response.empty)
	a.prompt, a.response = nil, nil // free the indexes
	return res, nil
}

func (c rateCounts) rates(n, empty int) Rates {
	r := Rates{N: n, Empty: empty, Near: c.near, Exact: c.exact, SeedNear: c.seedNear, SeedExact: c.seedExact}
	div := func(a int, b int) float64 {
		if b == 0 {
			return math.NaN()
		}
		return float64(a) / float64(b)
	}
	r.ExactRate, r.NearRate = div(r.Exact, r.N), div(r.Near, r.N)
	r.SeedExactRate, r.SeedRate = div(r.SeedExact, r.N), div(r.SeedNear, r.N)
	r.MeanJaccardOfDuplicates = math.NaN()
	if r.Near > 0 {
		r.MeanJaccardOfDuplicates = c.jaccard / float64(r.Near)
	}
	r.MeanJaccardOfSeedCopies = math.NaN()
	if r.SeedNear > 0 {
		r.MeanJaccardOfSeedCopies = c.seedJaccard / float64(r.SeedNear)
	}
	return r
}

// field holds the indexes of one field: the cell's and the seeds'.
type field struct {
	cell, seeds *minhash.Index
	empty       int
}

func newField(o Options) *field {
	return &field{cell: minhash.NewIndex(o.NumHashes, o.Bands, o.MaxCandidates), seeds: minhash.NewIndex(o.NumHashes, o.Bands, o.MaxCandidates)}
}

// match flags t (example idx) and then indexes it.
func (fl *field) match(idx int32, t minhash.Text, a *Accumulator) Flags {
	f := Flags{Of: -1}
	if t.Empty {
		fl.empty++
		return f
	}
	if s, j, exact, ok := fl.seeds.Best(t, a.opts.Threshold); ok {
		f.SeedID, f.SeedJaccard, f.SeedExact = a.seedIDs[s], j, exact
	}
	if o, j, exact, ok := fl.cell.Best(t, a.opts.Threshold); ok {
		f.Of, f.OfID, f.Jaccard, f.Exact = int(o), a.ids[o], j, exact
	}
	// Exact repeats add nothing to the index (their first occurrence is
	// there), which keeps candidate lists short in repetitive cells.
	if !f.Exact {
		fl.cell.Insert(idx, t)
	}
	return f
}
