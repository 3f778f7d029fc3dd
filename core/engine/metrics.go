package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/pluginhost"
	"github.com/polyglot-teachers/polyglot/core/seeds"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/sdk"
)

type sampled struct {
	key, strategy string
	h             uint64
}

// sampleCell picks the metric sample of a cell: stratified by strategy
// (each strategy keeps its share), and within a strategy the examples with
// the smallest hash of (key, seed). The choice depends only on the cell's
// examples and the seed, so every metric sees the same sample and a re-run
// sees the same one too.
//
// below, when not nil, restricts each generate unit to the prefix a
// screening stage scores (store.Filter.Below).
func (r *Runner) sampleCell(genUnits []string, seed int64, size int, below map[string]int) (map[string]bool, int, error) {
	byStrategy := map[string][]sampled{}
	total := 0
	for _, gu := range genUnits {
		err := r.Store.ExampleKeys(store.Filter{Unit: gu, Below: below[gu]}, func(key, strategy string) error {
			h := fnv.New64a()
			h.Write([]byte(key))
			h.Write([]byte(strconv.FormatInt(seed, 10)))
			byStrategy[strategy] = append(byStrategy[strategy], sampled{key, strategy, h.Sum64()})
			total++
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	chosen := map[string]bool{}
	if total == 0 {
		return chosen, 0, nil
	}
	names := make([]string, 0, len(byStrategy))
	for k := range byStrategy {
		names = append(names, k)
	}
	sort.Strings(names)
	quota := map[string]int{}
	used := 0
	for _, n := range names {
		q := int(math.Floor(float64(size) * float64(len(byStrategy[n])) / float64(total)))
		quota[n] = min(q, len(byStrategy[n]))
		used += quota[n]
	}
	for i := 0; used < min(size, total); i++ { // hand out the remainder
		n := names[i%len(names)]
		if quota[n] < len(byStrategy[n]) {
			quota[n]++
			used++
		}
	}
	for _, n := range names {
		xs := byStrategy[n]
		slices.SortFunc(xs, func(a, b sampled) int {
			if a.h != b.h {
				if a.h < b.h {
					return -1
				}
				return 1
			}
			if a.key < b.key {
				return -1
			}
			return 1
		})
		for _, x := range xs[:quota[n]] {
			chosen[x.key] = true
		}
	}
	return chosen, total, nil
}

func (r *Runner) runMetric(ctx context.Context, u *plan.Unit) (any, error) {
	return r.runMetricOn(ctx, u, nil)
}

// runMetricOn measures u's cell on the prefixes below gives (nil: all its
// data) and stores the cell's aggregates, which a later, larger
// measurement of the cell replaces.
func (r *Runner) runMetricOn(ctx context.Context, u *plan.Unit, below map[string]int) (any, error) {
	m := r.P.Exp.Metric(u.Metric)
	comp := r.P.Bound.Metrics[u.Metric]
	if m == nil || comp == nil {
		return nil, fmt.Errorf("metric %q is not bound", u.Metric)
	}
	size := m.Sample
	if size <= 0 {
		size = r.P.Exp.MetricSample
	}
	cs, err := r.sample(u.Deps, u.Seed, size, below)
	if err != nil {
		return nil, err
	}
	chosen, total := cs.chosen, cs.total
	if len(chosen) == 0 {
		return nil, fmt.Errorf("the cell %s/%s has no examples to measure (every request failed? see `polyglot status`)", u.Teacher, u.Language)
	}
	valueNames := map[string]bool{"value": true}
	direction := m.Direction
	if comp.Info.Metric != nil {
		for _, v := range comp.Info.Metric.Values {
			valueNames[v] = true
		}
		if direction == "" {
			direction = comp.Info.Metric.Direction
		}
	}
	if direction == "" {
		direction = "none"
	}
	// Per-example values are kept in memory for the unit: their
	// distribution goes into the aggregate (for the bootstrap and the
	// per-strategy means), and only each value's best and worst examples
	// are written as rows, for the report's example browser. A row per
	// example and value would cost the host more than the metrics
	// themselves on large cells.
	var (
		perExample map[string][]float64
		// pairs[k][i] identifies the prompt of perExample[k][i], so that a negative control
		// can be compared with its reference data example by example (both answer the same
		// seed prompts); see score.MetricRecord.PerExampleKeys.
		pairs    map[string][]string
		promptOf map[string]string
		extremes map[string]*extremeSet
		// Per-strategy means of per-example values give the per-strategy
		// results of the report without a metric run per strategy.
		strategyOf map[string]string
		byStrategy map[string]map[string][]float64 // value key -> strategy -> values
		agg        *sdk.Aggregate
	)
	store1 := func(vals []sdk.ExampleValue) error {
		for _, v := range vals {
			for k, x := range v.Values {
				if st := strategyOf[v.ID]; st != "" {
					if byStrategy[k] == nil {
						byStrategy[k] = map[string][]float64{}
					}
					byStrategy[k][st] = append(byStrategy[k][st], x)
				}
				name := u.Metric
				if k != "value" {
					name += "." + k
				}
				perExample[k] = append(perExample[k], x)
				pairs[k] = append(pairs[k], promptOf[v.ID])
				if extremes[name] == nil {
					extremes[name] = &extremeSet{k: browserK}
				}
				extremes[name].add(v.ID, x, v.Note)
			}
		}
		return nil
	}
	// measure sends the sample to the plugin; it runs again from the start
	// on a new process if the plugin dies (withPlugin). Nothing is stored
	// before it has finished.
	measure := func(run *pluginhost.Running) error {
		perExample, extremes = map[string][]float64{}, map[string]*extremeSet{}
		pairs, promptOf = map[string][]string{}, map[string]string{}
		strategyOf, byStrategy = map[string]string{}, map[string]map[string][]float64{}
		sctx, watch := newCallWatch(ctx, r.P.Plugins.CallTimeoutOrDefault())
		defer watch.close()
		watch.start()
		ms, diags, err := run.Client.OpenMetric(sctx, sdk.MetricOpen{Component: comp.Name, Config: comp.Config, Language: u.Language, Cell: u.Teacher + "/" + u.Language})
		watch.stop()
		if err != nil {
			return watch.err(run, "the open call of metric "+strconv.Quote(u.Metric), err)
		}
		if diags.HasErrors() {
			return diags.Err()
		}
		if comp.Info.Metric != nil && comp.Info.Metric.WantsReference {
			watch.start()
			err := r.sendReference(ms, u.Language)
			watch.stop()
			if err != nil {
				return watch.err(run, "with the reference data of metric "+strconv.Quote(u.Metric), err)
			}
		}
		batch := make([]sdk.Example, 0, r.Opts.MetricBatch)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			watch.start()
			vals, err := ms.Add(batch)
			watch.stop()
			if err != nil {
				return watch.err(run, fmt.Sprintf("a batch of %d examples of metric %q", len(batch), u.Metric), err)
			}
			batch = batch[:0]
			return store1(vals)
		}
		if err := r.eachSampled(cs, u.Deps, below, func(x sampledExample) error {
			strategyOf[x.ex.ID] = x.ex.Strategy
			promptOf[x.ex.ID] = x.pair
			batch = append(batch, x.ex)
			if len(batch) == cap(batch) {
				return flush()
			}
			return nil
		}); err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		watch.start()
		vals, a, err := ms.Finish()
		watch.stop()
		if err != nil {
			return watch.err(run, "the end of metric "+strconv.Quote(u.Metric), err)
		}
		agg = a
		return store1(vals)
	}
	if err := r.withPlugin(ctx, comp, u.Label, measure); err != nil {
		return nil, err
	}
	// A plugin may name its per-example main value after itself
	// (perplexity); whichever per-example value averages to the cell's
	// "value" is that value.
	if _, ok := byStrategy["value"]; !ok {
		if cv, ok := agg.Values["value"]; ok {
			for k, xs := range perExample {
				if _, agged := agg.Values[k]; !agged && closeTo(cv, mean(xs)) {
					byStrategy["value"] = byStrategy[k]
					perExample["value"] = xs
					pairs["value"] = pairs[k]
					// The example browser looks examples up by the metric's own
					// name, so the extremes are stored under it, not metric.k.
					if ex, ok := extremes[u.Metric+"."+k]; ok {
						extremes[u.Metric] = ex
						delete(extremes, u.Metric+"."+k)
					}
					break
				}
			}
		}
	}
	for name, ex := range extremes {
		for _, e := range ex.all() {
			mv := store.MetricValue{Metric: name, ExampleKey: e.key, Value: e.value}
			if e.note != "" {
				mv.Detail, _ = json.Marshal(map[string]string{"note": e.note})
			}
			if err := r.writer.MetricValues(mv); err != nil {
				return nil, &fatalError{err}
			}
		}
	}
	var aggs []store.MetricAggregate
	for k, v := range agg.Values {
		name, dir := u.Metric, direction
		if k != "value" {
			name += "." + k
			if !valueNames[k] {
				dir = "none"
			}
		}
		a := store.MetricAggregate{Metric: name, Teacher: u.Teacher, Language: u.Language, Seed: int(u.Seed), Value: v, Direction: dir, N: len(chosen)}
		if pe := perExample[k]; len(pe) > 1 {
			a.Stderr = stderr(pe)
			a.Detail = perExampleDetail(pe, pairs[k])
		}
		aggs = append(aggs, a)
	}
	// Only values whose cell aggregate is the mean of the per-example
	// values can be split by strategy this way (not diversity, which is a
	// property of the whole set); and only when the cell mixes strategies.
	mixed := false
	for _, groups := range byStrategy {
		mixed = mixed || len(groups) > 1
	}
	if mixed {
		for k, groups := range byStrategy {
			name, dir := u.Metric, direction
			if k != "value" {
				name += "." + k
				if !valueNames[k] {
					continue
				}
			}
			cellMean, ok := agg.Values[k]
			if !ok || !closeTo(cellMean, mean(perExample[k])) {
				continue
			}
			for st, xs := range groups {
				a := store.MetricAggregate{Metric: name, Teacher: u.Teacher, Language: u.Language, Strategy: st, Seed: int(u.Seed), Value: mean(xs), Direction: dir, N: len(xs)}
				if len(xs) > 1 {
					a.Stderr = stderr(xs)
					a.Detail, _ = json.Marshal(xs)
				}
				aggs = append(aggs, a)
			}
		}
	}
	sort.Slice(aggs, func(i, j int) bool {
		if aggs[i].Metric != aggs[j].Metric {
			return aggs[i].Metric < aggs[j].Metric
		}
		return aggs[i].Strategy < aggs[j].Strategy
	})
	if err := r.Store.PutMetricAggregate(aggs...); err != nil {
		return nil, &fatalError{err}
	}
	r.Opts.Progress.Advance(plan.Metrics, 1, 0)
	return map[string]any{"sample": len(chosen), "cell_examples": total, "values": agg.Values}, nil
}

// perExampleDetail is an aggregate's per-example values: a JSON array, or, when every
// value's prompt is known, {"values": [...], "keys": [...]} with the prompts' pair keys.
func perExampleDetail(values []float64, keys []string) []byte {
	if len(keys) == len(values) && !slices.Contains(keys, "") {
		b, _ := json.Marshal(struct {
			Values []float64 `json:"values"`
			Keys   []string  `json:"keys"`
		}{values, keys})
		return b
	}
	b, _ := json.Marshal(values)
	return b
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(a)) }

func stderr(xs []float64) float64 {
	n := float64(len(xs))
	mean := 0.0
	for _, x := range xs {
		mean += x
	}
	mean /= n
	ss := 0.0
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss/(n-1)) / math.Sqrt(n)
}

// sendReference streams the experiment's seed rows in the cell's language
// (and English ones, the translate strategy's sources) to a metric that
// compares against them, in file order. The rows come from the run's seed
// index, read once for every unit: only the rows sent are read again.
func (r *Runner) sendReference(ms *sdk.MetricStream, lang string) error {
	src, err := r.seeds()
	if err != nil {
		return err
	}
	var batch []sdk.Example
	err = src.ix.Each(func(c *seeds.Class) bool { return c.Language == lang || c.Language == "en" }, func(row seeds.Row) error {
		batch = append(batch, sdk.Example{ID: "seed:" + row.ID, Prompt: row.Prompt, Response: row.Response, Language: row.Language})
		if len(batch) == 512 {
			err := ms.Reference(batch)
			batch = nil
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		return ms.Reference(batch)
	}
	return nil
}

// browserK is how many best and worst examples per value the store keeps.
const browserK = 5

type extreme struct {
	key   string
	value float64
	note  string
}

// extremeSet keeps the k lowest and k highest values seen.
type extremeSet struct {
	k         int
	low, high []extreme
}

func (e *extremeSet) add(key string, v float64, note string) {
	x := extreme{key, v, note}
	e.low = insertBounded(e.low, x, e.k, func(a, b float64) bool { return a < b })
	e.high = insertBounded(e.high, x, e.k, func(a, b float64) bool { return a > b })
}

func insertBounded(xs []extreme, x extreme, k int, better func(a, b float64) bool) []extreme {
	if len(xs) == k && !better(x.value, xs[k-1].value) {
		return xs
	}
	i := sort.Search(len(xs), func(i int) bool { return better(x.value, xs[i].value) })
	xs = append(xs, extreme{})
	copy(xs[i+1:], xs[i:])
	xs[i] = x
	if len(xs) > k {
		xs = xs[:k]
	}
	return xs
}

func (e *extremeSet) all() []extreme {
	seen := map[string]bool{}
	var out []extreme
	for _, x := range append(append([]extreme(nil), e.low...), e.high...) {
		if !seen[x.key] {
			seen[x.key] = true
			out = append(out, x)
		}
	}
	return out
}
