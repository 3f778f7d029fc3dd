package engine

import (
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// A cell's metric units come one after another in the plan (every metric
// of a cell, then the next cell), and each measures the same sample. The
// sample's examples are read from the store once and kept for the cell's
// other metrics: reading and decoding them again for each metric was most
// of the host's part of the quickstart's metric stage. A sample larger than
// cellSampleBytes is not kept (its units stream it from the store, in
// batches), so memory does not follow the cell's size.
const (
	cellSampleBytes = 8 << 20
	cellSamplesKept = 3 // two units run at once, and one may be a cell ahead
)

// cellSample is a cell's metric sample.
type cellSample struct {
	chosen map[string]bool
	total  int
	// examples are the chosen examples in store order, with their prompts'
	// pair keys; nil when the sample was too large to keep.
	examples []sampledExample
}

type sampledExample struct {
	ex   sdk.Example
	pair string
}

type cellEntry struct {
	key  string
	once sync.Once
	cs   *cellSample
	err  error
}

// cellSamples keeps the last few cells' samples.
type cellSamples struct {
	mu      sync.Mutex
	entries []*cellEntry // oldest first
}

// clear drops the kept samples (at the end of the metric stage).
func (c *cellSamples) clear() {
	c.mu.Lock()
	c.entries = nil
	c.mu.Unlock()
}

// sample returns the metric sample of the cell made by genUnits (each
// restricted to its prefix in below, when not nil: see sampleCell).
func (r *Runner) sample(genUnits []string, seed int64, size int, below map[string]int) (*cellSample, error) {
	var b strings.Builder
	for _, gu := range genUnits {
		b.WriteString(gu + ":" + strconv.Itoa(below[gu]) + ",")
	}
	key := b.String() + "|" + strconv.FormatInt(seed, 10) + "|" + strconv.Itoa(size)
	c := &r.cells
	c.mu.Lock()
	var e *cellEntry
	for _, x := range c.entries {
		if x.key == key {
			e = x
		}
	}
	if e == nil {
		e = &cellEntry{key: key}
		c.entries = append(c.entries, e)
		if len(c.entries) > cellSamplesKept {
			c.entries = c.entries[1:]
		}
	}
	c.mu.Unlock()
	e.once.Do(func() { e.cs, e.err = r.readSample(genUnits, seed, size, below) })
	return e.cs, e.err
}

func (r *Runner) readSample(genUnits []string, seed int64, size int, below map[string]int) (*cellSample, error) {
	chosen, total, err := r.sampleCell(genUnits, seed, size, below)
	if err != nil {
		return nil, err
	}
	cs := &cellSample{chosen: chosen, total: total}
	if len(chosen) == 0 {
		return cs, nil
	}
	examples := make([]sampledExample, 0, len(chosen))
	bytes := 0
	for _, gu := range genUnits {
		err := r.Store.Examples(store.Filter{Unit: gu, Below: below[gu]}, func(e *store.Example) error {
			if !chosen[e.Key] {
				return nil
			}
			bytes += len(e.Prompt) + len(e.Response) + len(e.Key)
			if bytes > cellSampleBytes {
				return errTooLarge
			}
			examples = append(examples, sampledExample{
				ex:   sdk.Example{ID: e.Key, Prompt: e.Prompt, Response: e.Response, Language: e.Language, Strategy: e.Strategy, Teacher: e.Teacher},
				pair: score.PairKey(e.Prompt),
			})
			return nil
		})
		if errors.Is(err, errTooLarge) {
			return cs, nil
		}
		if err != nil {
			return nil, err
		}
	}
	cs.examples = examples
	return cs, nil
}

// eachSampled calls fn with the sample's examples in store order: kept ones from
// memory, else read from the store again.
func (r *Runner) eachSampled(cs *cellSample, genUnits []string, below map[string]int, fn func(sampledExample) error) error {
	if cs.examples != nil {
		for _, x := range cs.examples {
			if err := fn(x); err != nil {
				return err
			}
		}
		return nil
	}
	for _, gu := range genUnits {
		err := r.Store.Examples(store.Filter{Unit: gu, Below: below[gu]}, func(e *store.Example) error {
			if !cs.chosen[e.Key] {
				return nil
			}
			return fn(sampledExample{
				ex:   sdk.Example{ID: e.Key, Prompt: e.Prompt, Response: e.Response, Language: e.Language, Strategy: e.Strategy, Teacher: e.Teacher},
				pair: score.PairKey(e.Prompt),
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

var errTooLarge = errors.New("cell sample too large to keep")
