package duplicates

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Metric is the `duplicates` metric component. Its "value" is the cell's
// near-duplicate rate: the share of examples whose prompt, response or
// (prompt, response) pair is a near (or exact) duplicate of an earlier
// example of the cell. Copies of the experiment's seed rows, which the host
// sends through Reference (WantsReference), are reported separately
// ("seed_near_rate", "seed_exact_rate") because they are a different
// failure: the teacher copied its input rather than repeating itself.
type Metric struct{}

// New returns the component; the host serves it as the built-in plugin
// "duplicates".
func New() sdk.Metric { return Metric{} }

func (Metric) Describe() sdk.Description {
	return sdk.Description{
		Name:        "duplicates",
		Description: "Exact and near-duplicate rate within a cell (MinHash/LSH over character shingles) and copies of seed rows (offline).",
		Schema: sdk.Schema(
			sdk.Attr("shingle", cty.Number).Doc("characters per shingle (1 to 64)").Default(cty.NumberIntVal(DefaultShingle)),
			sdk.Attr("threshold", cty.Number).Doc("estimated Jaccard similarity at or above which two texts are near duplicates (above 0, at most 1)").Default(cty.NumberFloatVal(DefaultThreshold)),
			sdk.Attr("num_hashes", cty.Number).Doc("MinHash signature length (1 to 4096); more is more precise and slower").Default(cty.NumberIntVal(DefaultNumHashes)),
			sdk.Attr("bands", cty.Number).Doc("LSH bands; must divide num_hashes. More bands find pairs of lower similarity").Default(cty.NumberIntVal(DefaultBands)),
		),
		Metric: &sdk.MetricInfo{Direction: "lower", Values: []string{"value"}, WantsReference: true},
	}
}

// options reads the config into library options, with a diagnostic at the
// attribute for each bad value.
func options(cfg sdk.Config) (Options, sdk.Diagnostics) {
	var ds sdk.Diagnostics
	whole := func(name string, def, lo, hi int) int {
		if !cfg.Has(name) {
			return def
		}
		f := cfg.Float(name)
		if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
			ds = append(ds, sdk.AttrError(name, name+" out of range", "%s is %g; use a whole number from %d to %d (%d is the default)", name, f, lo, hi, def))
			return def
		}
		return int(f)
	}
	o := Options{
		Shingle:   whole("shingle", DefaultShingle, 1, 64),
		NumHashes: whole("num_hashes", DefaultNumHashes, 1, 4096),
		Bands:     whole("bands", DefaultBands, 1, 4096),
		Threshold: DefaultThreshold,
	}
	if cfg.Has("threshold") {
		o.Threshold = cfg.Float("threshold")
		if !(o.Threshold > 0 && o.Threshold <= 1) {
			ds = append(ds, sdk.AttrError("threshold", "threshold out of range", "threshold is %g; use a Jaccard similarity above 0 and at most 1 (%g is the default)", o.Threshold, DefaultThreshold))
		}
	}
	if !ds.HasErrors() && o.NumHashes%o.Bands != 0 {
		ds = append(ds, sdk.AttrError("bands", "bands must divide num_hashes", "%d bands do not divide num_hashes = %d; pick a divisor such as %d", o.Bands, o.NumHashes, largestDivisorAtMost(o.NumHashes, o.Bands)))
	}
	return o, ds
}

func largestDivisorAtMost(n, k int) int {
	for d := min(k, n); d > 1; d-- {
		if n%d == 0 {
			return d
		}
	}
	return 1
}

func (Metric) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	_, ds := options(cfg)
	return ds
}

func (Metric) Open(ctx context.Context, req sdk.MetricRequest) (sdk.Accumulator, sdk.Diagnostics) {
	o, ds := options(req.Config)
	if ds.HasErrors() {
		return nil, ds
	}
	a, err := NewAccumulator(o)
	if err != nil {
		return nil, sdk.Diagnostics{sdk.Errorf(nil, "Cannot set up duplicate detection", "%v", err)}
	}
	// Each batch is judged as it comes: the flags need not be kept.
	a.dropFlags = true
	return &component{a: a}, nil
}

// component adapts Accumulator to sdk.Accumulator. Every example is judged
// against the seeds and the examples before it as soon as it is added, so
// per-example values go back from Add; it reads the flags the library has
// just appended (same package).
type component struct {
	a *Accumulator
	// Counts of examples, for the aggregate; each example counts once even
	// when several of its parts are duplicates.
	n, near, exact, seedNear, seedExact int
	jaccardSum                          float64
}

func (c *component) Reference(ctx context.Context, batch []sdk.Example) error {
	seeds := make([]Seed, len(batch))
	for i, e := range batch {
		seeds[i] = Seed{ID: e.ID, Prompt: e.Prompt, Response: e.Response}
	}
	return c.a.AddSeeds(ctx, seeds)
}

func (c *component) Add(ctx context.Context, batch []sdk.Example) ([]sdk.ExampleValue, error) {
	exs := make([]Example, len(batch))
	for i, e := range batch {
		exs[i] = Example{ID: e.ID, Prompt: e.Prompt, Response: e.Response}
	}
	start := len(c.a.flags)
	if err := c.a.Add(ctx, exs); err != nil {
		return nil, err
	}
	out := make([]sdk.ExampleValue, len(batch))
	for i, f := range c.a.flags[start:] {
		out[i] = c.judge(f)
	}
	if c.a.dropFlags {
		clear(c.a.flags) // drop the strings they point to
		c.a.flags = c.a.flags[:0]
	}
	return out, nil
}

// judge turns one example's flags into its value and note and counts it.
func (c *component) judge(f ExampleFlags) sdk.ExampleValue {
	c.n++
	near := f.Prompt.Duplicate() || f.Response.Duplicate() || f.PairOf >= 0
	if near {
		c.near++
		// The example's similarity is that of its closest duplicated part.
		j := 0.0
		for _, fl := range []Flags{f.Prompt, f.Response} {
			if fl.Duplicate() {
				j = max(j, fl.Jaccard)
			}
		}
		if f.PairOf >= 0 {
			j = 1
		}
		c.jaccardSum += j
	}
	if f.Prompt.Exact || f.Response.Exact || f.PairOf >= 0 {
		c.exact++
	}
	if f.Prompt.CopiesSeed() || f.Response.CopiesSeed() || f.PairSeedID != "" {
		c.seedNear++
	}
	if f.Prompt.SeedExact || f.Response.SeedExact || f.PairSeedID != "" {
		c.seedExact++
	}
	v := 0.0
	if near {
		v = 1
	}
	return sdk.ExampleValue{ID: f.ID, Values: map[string]float64{"value": v}, Note: note(f)}
}

// note names what an example duplicates, e.g.
// "prompt = e1 (exact); response copies seed ≈ seed:s2 (J 0.91)".
func note(f ExampleFlags) string {
	var parts []string
	sides := [2]struct {
		name string
		fl   Flags
	}{{"prompt", f.Prompt}, {"response", f.Response}}
	if f.PairOf >= 0 {
		parts = append(parts, "pair "+match(f.Prompt.OfID, true, 1))
	} else {
		for _, s := range sides {
			if s.fl.Duplicate() {
				parts = append(parts, s.name+" "+match(s.fl.OfID, s.fl.Exact, s.fl.Jaccard))
			}
		}
	}
	if f.PairSeedID != "" {
		parts = append(parts, "pair copies seed "+match(f.PairSeedID, true, 1))
	} else {
		for _, s := range sides {
			if s.fl.CopiesSeed() {
				parts = append(parts, s.name+" copies seed "+match(s.fl.SeedID, s.fl.SeedExact, s.fl.SeedJaccard))
			}
		}
	}
	return strings.Join(parts, "; ")
}

func match(id string, exact bool, j float64) string {
	if exact {
		return fmt.Sprintf("= %s (exact)", id)
	}
	return fmt.Sprintf("≈ %s (J %.2f)", id, j)
}

func (c *component) Finish(context.Context) ([]sdk.ExampleValue, *sdk.Aggregate, error) {
	r, err := c.a.Finish()
	if err != nil {
		return nil, nil, err
	}
	agg := &sdk.Aggregate{Values: map[string]float64{"n": float64(c.n)}}
	if c.n == 0 {
		// Rates of nothing are undefined, and the store cannot hold NaN.
		return nil, agg, nil
	}
	n := float64(c.n)
	agg.Values["value"] = float64(c.near) / n
	agg.Values["exact_rate"] = float64(c.exact) / n
	agg.Values["seed_near_rate"] = float64(c.seedNear) / n
	agg.Values["seed_exact_rate"] = float64(c.seedExact) / n
	if c.near > 0 {
		agg.Values["mean_jaccard"] = c.jaccardSum / float64(c.near)
	}
	// The per-field rates say whether prompts or responses repeat.
	agg.Values["prompt_near_rate"] = r.Prompt.NearRate
	agg.Values["response_near_rate"] = r.Response.NearRate
	agg.Details = map[string]any{
		"prompt_near": r.Prompt.Near, "prompt_exact": r.Prompt.Exact, "prompt_empty": r.Prompt.Empty,
		"response_near": r.Response.Near, "response_exact": r.Response.Exact, "response_empty": r.Response.Empty,
		"pair_exact": r.PairExact, "pair_seed": r.PairSeed,
	}
	return nil, agg, nil
}
