package length

import (
	"context"
	"math"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

// measure runs a cell through the component over real gRPC, sending the
// examples in batches of batchSize, and returns the values by example ID and
// the aggregate.
func measure(t *testing.T, attrs map[string]cty.Value, examples []sdk.Example, batchSize int) (map[string]map[string]float64, *sdk.Aggregate) {
	t.Helper()
	c := sdktest.Start(t, sdk.ServeOpts{Name: "length", Version: "1", Metrics: []sdk.Metric{New()}})
	cfg := sdktest.Config(t, New().Describe().Schema, attrs)
	ms, d, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "length", Config: cfg, Language: "ja"})
	if err != nil || d.HasErrors() {
		t.Fatalf("open: %v %v", err, d.Err())
	}
	got := map[string]map[string]float64{}
	keep := func(vals []sdk.ExampleValue) {
		for _, v := range vals {
			if got[v.ID] != nil {
				t.Fatalf("example %s has values twice", v.ID)
			}
			got[v.ID] = v.Values
		}
	}
	for lo := 0; lo < len(examples); lo += batchSize {
		vals, err := ms.Add(examples[lo:min(lo+batchSize, len(examples))])
		if err != nil {
			t.Fatal(err)
		}
		keep(vals)
	}
	vals, agg, err := ms.Finish()
	if err != nil {
		t.Fatal(err)
	}
	keep(vals)
	return got, agg
}

// The texts and their counts are those of testdata/known_counts.tsv, which
// were produced by tiktoken itself; the Japanese text is 9 tokens in
// cl100k_base and 8 in o200k_base, so it shows which encoding was used.
var lengthCell = []sdk.Example{
	{ID: "a", Prompt: "hello world", Response: "お誕生日おめでとう"},
	{ID: "b", Prompt: "2 + 2 = 4", Response: "antidisestablishmentarianism"},
	{ID: "c", Prompt: "tiktoken is great!", Response: "hello world"},
}

func TestLengthComponentKnownCounts(t *testing.T) {
	tests := []struct {
		name      string
		attrs     map[string]cty.Value
		batch     int
		perA      map[string]float64
		aggregate map[string]float64
	}{
		{
			name:  "default o200k_base",
			attrs: map[string]cty.Value{},
			batch: 2,
			perA:  map[string]float64{"prompt_tokens": 2, "response_tokens": 8, "prompt_chars": 11, "response_chars": 9},
			aggregate: map[string]float64{
				"prompt_tokens": 5, "response_tokens": 16.0 / 3, "prompt_chars": 38.0 / 3, "response_chars": 16,
				"response_tokens_median": 6, "n": 3,
			},
		},
		{
			name:  "cl100k_base",
			attrs: map[string]cty.Value{"encoding": cty.StringVal("cl100k_base")},
			batch: 1,
			perA:  map[string]float64{"prompt_tokens": 2, "response_tokens": 9, "prompt_chars": 11, "response_chars": 9},
			aggregate: map[string]float64{
				"prompt_tokens": 5, "response_tokens": 17.0 / 3, "prompt_chars": 38.0 / 3, "response_chars": 16,
				"response_tokens_median": 6, "n": 3,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			per, agg := measure(t, tt.attrs, lengthCell, tt.batch)
			if len(per) != len(lengthCell) {
				t.Fatalf("values for %d examples, want %d", len(per), len(lengthCell))
			}
			for k, want := range tt.perA {
				if got := per["a"][k]; got != want {
					t.Errorf("example a %s = %v, want %v", k, got, want)
				}
			}
			if len(agg.Values) != len(tt.aggregate) {
				t.Errorf("aggregate keys %v, want %v", agg.Values, tt.aggregate)
			}
			for k, want := range tt.aggregate {
				if got, ok := agg.Values[k]; !ok || math.Abs(got-want) > 1e-12 {
					t.Errorf("aggregate %s = %v, want %v", k, got, want)
				}
			}
		})
	}
}

func TestLengthComponentEmptyCell(t *testing.T) {
	per, agg := measure(t, map[string]cty.Value{}, nil, 1)
	if len(per) != 0 || len(agg.Values) != 1 || agg.Values["n"] != 0 {
		t.Fatalf("empty cell gave %v %v; want only n = 0", per, agg.Values)
	}
}

func TestLengthComponentValidate(t *testing.T) {
	c := sdktest.Start(t, sdk.ServeOpts{Name: "length", Version: "1", Metrics: []sdk.Metric{New()}})
	schema := New().Describe().Schema
	tests := []struct {
		encoding string
		wantErr  bool
	}{
		{"o200k_base", false},
		{"cl100k_base", false},
		{"p50k_base", true}, // the library knows it; the component does not offer it
		{"gpt2", true},
		{"", true},
	}
	for _, tt := range tests {
		cfg := sdktest.Config(t, schema, map[string]cty.Value{"encoding": cty.StringVal(tt.encoding)})
		d, err := c.ValidateConfig(context.Background(), sdk.KindMetric, "length", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if d.HasErrors() != tt.wantErr {
			t.Errorf("encoding %q: diagnostics %v, want error %v", tt.encoding, d, tt.wantErr)
			continue
		}
		if tt.wantErr && sdk.PathString(d[0].Path) != "encoding" {
			t.Errorf("encoding %q: diagnostic at %q, want at encoding", tt.encoding, sdk.PathString(d[0].Path))
		}
		// Open refuses the same config with the same diagnostic.
		_, od, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "length", Config: cfg, Language: "de"})
		if err != nil {
			t.Fatal(err)
		}
		if od.HasErrors() != tt.wantErr {
			t.Errorf("encoding %q: open diagnostics %v, want error %v", tt.encoding, od, tt.wantErr)
		}
	}
}
