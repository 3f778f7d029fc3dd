package engine

import (
	"runtime/debug"
	"sync"

	"github.com/polyglot-teachers/polyglot/core/seeds"
	"github.com/polyglot-teachers/polyglot/core/strategy"
)

// seedSource is the experiment's seed index as strategy.Seeds: built once
// per run and shared by every generate and metric unit, it holds no seed
// text; requests read their rows from the files.
type seedSource struct {
	ix      *seeds.Index
	classes []strategy.RowClass
}

func (s *seedSource) Len() int                     { return s.ix.Len() }
func (s *seedSource) Classes() []strategy.RowClass { return s.classes }
func (s *seedSource) ClassOf(i int) int            { return s.ix.ClassOf(i) }
func (s *seedSource) Row(i int) (strategy.Row, error) {
	r, err := s.ix.Row(i)
	if err != nil {
		return strategy.Row{}, err
	}
	return strategy.Row{Set: s.classes[s.ix.ClassOf(i)].Set, ID: r.ID, Prompt: r.Prompt, Response: r.Response, Language: r.Language, Strategies: r.Strategies, Tags: r.Tags}, nil
}

// seedIndex is the shared index, read on first use.
type seedIndex struct {
	once sync.Once
	src  *seedSource
	err  error
}

func (r *Runner) seeds() (*seedSource, error) {
	r.seedIdx.once.Do(func() {
		// Reading a large seed file makes garbage (every row is decoded)
		// while the index grows; a lower GC target during the read, and
		// the freed heap handed back afterwards, keep that peak from
		// becoming the run's (the store's page caches live outside Go's
		// heap and cannot reuse it).
		old := debug.SetGCPercent(25)
		ix, err := seeds.NewIndex(r.P.Exp.SeedSets)
		debug.SetGCPercent(old)
		debug.FreeOSMemory()
		if err != nil {
			r.seedIdx.err = err
			return
		}
		src := &seedSource{ix: ix}
		for _, c := range ix.Classes() {
			src.classes = append(src.classes, strategy.RowClass{Set: c.Set, Language: c.Language, Strategies: c.Strategies, Tags: c.Tags})
		}
		r.seedIdx.src = src
	})
	return r.seedIdx.src, r.seedIdx.err
}

// closeSeeds closes the seed files the run has read rows from.
func (r *Runner) closeSeeds() {
	if r.seedIdx.src != nil {
		r.seedIdx.src.ix.Close()
	}
}
