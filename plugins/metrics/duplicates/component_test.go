package duplicates

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

func startDuplicates(t *testing.T) *sdk.Client {
	t.Helper()
	return sdktest.Start(t, sdk.ServeOpts{Name: "duplicates", Version: "1", Metrics: []sdk.Metric{New()}})
}

// runCell sends the seeds (as the host does, IDs prefixed "seed:") and the
// examples in batches of batchSize over real gRPC.
func runCell(t *testing.T, attrs map[string]cty.Value, seeds []Seed, examples []Example, batchSize int) (map[string]sdk.ExampleValue, *sdk.Aggregate) {
	t.Helper()
	c := startDuplicates(t)
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ci, ok := info.Component(sdk.KindMetric, "duplicates"); !ok || ci.Metric == nil || !ci.Metric.WantsReference || ci.Metric.Direction != "lower" {
		t.Fatalf("component info %+v: want a metric that wants the reference, direction lower", ci)
	}
	cfg := sdktest.Config(t, New().Describe().Schema, attrs)
	ms, d, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "duplicates", Config: cfg, Language: "de"})
	if err != nil || d.HasErrors() {
		t.Fatalf("open: %v %v", err, d.Err())
	}
	if len(seeds) > 0 {
		ref := make([]sdk.Example, len(seeds))
		for i, s := range seeds {
			ref[i] = sdk.Example{ID: "seed:" + s.ID, Prompt: s.Prompt, Response: s.Response}
		}
		if err := ms.Reference(ref); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]sdk.ExampleValue{}
	for lo := 0; lo < len(examples); lo += batchSize {
		var batch []sdk.Example
		for _, e := range examples[lo:min(lo+batchSize, len(examples))] {
			batch = append(batch, sdk.Example{ID: e.ID, Prompt: e.Prompt, Response: e.Response})
		}
		vals, err := ms.Add(batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) != len(batch) {
			t.Fatalf("Add returned %d values for %d examples", len(vals), len(batch))
		}
		for _, v := range vals {
			got[v.ID] = v
		}
	}
	vals, agg, err := ms.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 0 {
		t.Fatalf("Finish returned %d per-example values; they all come from Add", len(vals))
	}
	return got, agg
}

// testdata/cell.json: e2 repeats e1's prompt (case and spaces), e3's
// response is one character off e0's, e5 is a full copy of e4; e0's prompt
// is a seed prompt, e1's response is one letter off a seed response and e7
// is a copied seed; e6 and e8 have blank responses, which never count.
func TestDuplicatesComponentFixture(t *testing.T) {
	fx := loadFixture(t)
	nearJ := exactJaccard(fx.Examples[3].Response, fx.Examples[0].Response, DefaultShingle)
	tests := []struct {
		name    string
		attrs   map[string]cty.Value
		seeds   []Seed
		batch   int
		flagged []string // examples with value 1
		notes   map[string]string
		agg     map[string]float64
	}{
		{
			name: "defaults with seeds", attrs: map[string]cty.Value{}, seeds: fx.Seeds, batch: 4,
			flagged: []string{"e2", "e3", "e5"},
			notes: map[string]string{
				"e0": "prompt copies seed = seed:s1 (exact)",
				"e1": "response copies seed ≈ seed:s2 (J ",
				"e2": "prompt = e1 (exact)",
				"e3": "response ≈ e0 (J ",
				"e4": "",
				"e5": "pair = e4 (exact)",
				"e7": "pair copies seed = seed:s3 (exact)",
				"e8": "",
			},
			agg: map[string]float64{
				"value": 3.0 / 9, "exact_rate": 2.0 / 9, "seed_near_rate": 3.0 / 9, "seed_exact_rate": 2.0 / 9,
				"prompt_near_rate": 2.0 / 9, "response_near_rate": 2.0 / 9, "n": 9,
			},
		},
		{
			name: "no seeds, one example per batch", attrs: map[string]cty.Value{}, batch: 1,
			flagged: []string{"e2", "e3", "e5"},
			notes:   map[string]string{"e0": "", "e7": ""},
			agg:     map[string]float64{"value": 3.0 / 9, "exact_rate": 2.0 / 9, "seed_near_rate": 0, "seed_exact_rate": 0, "n": 9},
		},
		{
			// At threshold 1 only exact repeats are near duplicates: the
			// one-character variants of e3 and e1 are no longer flagged.
			name: "threshold 1", attrs: map[string]cty.Value{"threshold": cty.NumberIntVal(1)}, seeds: fx.Seeds, batch: 9,
			flagged: []string{"e2", "e5"},
			notes:   map[string]string{"e1": "", "e3": ""},
			agg:     map[string]float64{"value": 2.0 / 9, "exact_rate": 2.0 / 9, "seed_near_rate": 2.0 / 9, "seed_exact_rate": 2.0 / 9, "mean_jaccard": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			per, agg := runCell(t, tt.attrs, tt.seeds, fx.Examples, tt.batch)
			if len(per) != len(fx.Examples) {
				t.Fatalf("values for %d examples, want %d", len(per), len(fx.Examples))
			}
			flagged := map[string]bool{}
			for _, id := range tt.flagged {
				flagged[id] = true
			}
			for id, v := range per {
				want := 0.0
				if flagged[id] {
					want = 1
				}
				if v.Values["value"] != want || len(v.Values) != 1 {
					t.Errorf("%s: values %v, want value %v", id, v.Values, want)
				}
			}
			for id, want := range tt.notes {
				if got := per[id].Note; !strings.HasPrefix(got, want) || (want == "" && got != "") {
					t.Errorf("%s: note %q, want %q…", id, got, want)
				}
			}
			for k, want := range tt.agg {
				if got, ok := agg.Values[k]; !ok || math.Abs(got-want) > 1e-12 {
					t.Errorf("aggregate %s = %v (present %v), want %v", k, got, ok, want)
				}
			}
			// e2 and e5 are exact (1); e3 is a near copy whose MinHash
			// estimate must be close to the true shingle Jaccard.
			if len(tt.flagged) == 3 {
				want := (2 + nearJ) / 3
				if got := agg.Values["mean_jaccard"]; math.Abs(got-want) > 0.05 {
					t.Errorf("mean_jaccard %v, want about %v (true Jaccard of e3/e0 %v)", got, want, nearJ)
				}
			}
		})
	}
}

func TestDuplicatesComponentEmptyCell(t *testing.T) {
	_, agg := runCell(t, map[string]cty.Value{}, loadFixture(t).Seeds, nil, 1)
	if len(agg.Values) != 1 || agg.Values["n"] != 0 {
		t.Fatalf("empty cell aggregate %v; want only n = 0", agg.Values)
	}
}

// Seeds arriving after examples would make earlier verdicts wrong; the
// stream must fail rather than ignore them.
func TestDuplicatesComponentReferenceAfterAdd(t *testing.T) {
	c := startDuplicates(t)
	cfg := sdktest.Config(t, New().Describe().Schema, map[string]cty.Value{})
	ms, d, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "duplicates", Config: cfg, Language: "de"})
	if err != nil || d.HasErrors() {
		t.Fatal(err, d.Err())
	}
	if _, err := ms.Add([]sdk.Example{{ID: "a", Prompt: "p", Response: "r"}}); err != nil {
		t.Fatal(err)
	}
	err = ms.Reference([]sdk.Example{{ID: "seed:1", Prompt: "p", Response: "r"}})
	if err == nil || !strings.Contains(err.Error(), "before the first Add") {
		t.Fatalf("reference after add: %v", err)
	}
}

func TestDuplicatesComponentValidate(t *testing.T) {
	c := startDuplicates(t)
	schema := New().Describe().Schema
	tests := []struct {
		attrs map[string]cty.Value
		path  string // "" = valid
	}{
		{map[string]cty.Value{}, ""},
		{map[string]cty.Value{"shingle": cty.NumberIntVal(3), "num_hashes": cty.NumberIntVal(64), "bands": cty.NumberIntVal(32), "threshold": cty.NumberFloatVal(0.5)}, ""},
		{map[string]cty.Value{"shingle": cty.NumberIntVal(0)}, "shingle"},
		{map[string]cty.Value{"shingle": cty.NumberFloatVal(2.5)}, "shingle"},
		{map[string]cty.Value{"threshold": cty.NumberIntVal(0)}, "threshold"},
		{map[string]cty.Value{"threshold": cty.NumberFloatVal(1.5)}, "threshold"},
		{map[string]cty.Value{"num_hashes": cty.NumberIntVal(5000)}, "num_hashes"},
		{map[string]cty.Value{"bands": cty.NumberIntVal(7)}, "bands"},
		{map[string]cty.Value{"num_hashes": cty.NumberIntVal(100), "bands": cty.NumberIntVal(16)}, "bands"},
	}
	for _, tt := range tests {
		cfg := sdktest.Config(t, schema, tt.attrs)
		d, err := c.ValidateConfig(context.Background(), sdk.KindMetric, "duplicates", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if tt.path == "" {
			if d.HasErrors() {
				t.Errorf("%v: unexpected %v", tt.attrs, d.Err())
			}
			continue
		}
		if len(d) != 1 || sdk.PathString(d[0].Path) != tt.path {
			t.Errorf("%v: diagnostics %v, want one at %s", tt.attrs, d, tt.path)
			continue
		}
		_, od, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "duplicates", Config: cfg, Language: "de"})
		if err != nil || !od.HasErrors() {
			t.Errorf("%v: open accepted a bad config (%v)", tt.attrs, err)
		}
	}
}
