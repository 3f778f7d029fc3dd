package diversity

import (
	"context"
	"math"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Embedder names accepted by the component's `embedder` attribute.
const (
	EmbedderHash     = "hash"
	EmbedderEndpoint = "endpoint"
)

// Metric is the `diversity` metric component: prompt and response
// diversity of a cell (docs/method.md §3). It has no single "value": the two
// diversities enter the score as "<name>.prompt" and "<name>.response".
type Metric struct{}

// New returns the component; the host serves it as the built-in plugin
// "diversity".
func New() sdk.Metric { return Metric{} }

func (Metric) Describe() sdk.Description {
	return sdk.Description{
		Name:        "diversity",
		Description: "Prompt and response diversity: 1 − mean pairwise cosine similarity of the texts' embeddings (hashed character n-grams offline, or an OpenAI-compatible embeddings endpoint).",
		Schema: sdk.Schema(
			sdk.Attr("embedder", cty.String).Doc(`"hash" (offline hashed character n-grams) or "endpoint" (an OpenAI-compatible /embeddings API)`).Default(cty.StringVal(EmbedderHash)),
			sdk.Attr("dim", cty.Number).Doc("hash: embedding dimensions (16 to 65536)").Default(cty.NumberIntVal(512)),
			sdk.Attr("base_url", cty.String).Doc("endpoint: API root including the version, e.g. http://127.0.0.1:8000/v1"),
			sdk.Attr("model", cty.String).Doc("endpoint: embedding model name sent with each request"),
			sdk.Attr("api_key", cty.String).Doc("endpoint: bearer token, if the server wants one").Sensitive(),
			sdk.Attr("batch_size", cty.Number).Doc("endpoint: texts per request").Default(cty.NumberIntVal(64)),
			sdk.Attr("cache_dir", cty.String).Doc("endpoint: directory where embeddings are kept between runs (default: in memory for the cell only)"),
		),
		Metric: &sdk.MetricInfo{Direction: "higher", Values: []string{"prompt", "response"}},
	}
}

func (Metric) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	var ds sdk.Diagnostics
	switch emb := embedderOf(cfg); emb {
	case EmbedderHash:
		if d := cfg.Float("dim"); cfg.Has("dim") && (d != math.Trunc(d) || d < 16 || d > 1<<16) {
			ds = append(ds, sdk.AttrError("dim", "dim out of range", "dim is %g; use a whole number from 16 to 65536 (512 is the default)", d))
		}
		for _, a := range []string{"base_url", "model", "api_key", "cache_dir"} {
			if cfg.Has(a) {
				ds = append(ds, sdk.Diagnostic{Severity: sdk.Warning, Path: cty.GetAttrPath(a), Summary: a + " is ignored",
					Detail: `the hash embedder runs offline; set embedder = "endpoint" to use an embeddings API`})
			}
		}
	case EmbedderEndpoint:
		u := cfg.String("base_url")
		switch {
		case u == "":
			ds = append(ds, sdk.AttrError("base_url", "base_url is missing", `the endpoint embedder needs the API root, e.g. base_url = "http://127.0.0.1:8000/v1"`))
		case !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://"):
			ds = append(ds, sdk.AttrError("base_url", "base_url is not an http(s) URL", "%q must start with http:// or https://", u))
		}
		if cfg.String("model") == "" {
			ds = append(ds, sdk.AttrError("model", "model is missing", "the endpoint embedder needs the embedding model's name at the server"))
		}
		if b := cfg.Float("batch_size"); cfg.Has("batch_size") && (b != math.Trunc(b) || b < 1 || b > 1<<16) {
			ds = append(ds, sdk.AttrError("batch_size", "batch_size out of range", "batch_size is %g; use a whole number from 1 to 65536 (64 is the default)", b))
		}
	default:
		ds = append(ds, sdk.AttrError("embedder", "unknown embedder", `%q: use "hash" or "endpoint"`, emb))
	}
	return ds
}

func embedderOf(cfg sdk.Config) string {
	if !cfg.Has("embedder") {
		return EmbedderHash
	}
	return cfg.String("embedder")
}

func (m Metric) Open(ctx context.Context, req sdk.MetricRequest) (sdk.Accumulator, sdk.Diagnostics) {
	ds := m.ValidateConfig(ctx, req.Config)
	if ds.HasErrors() {
		return nil, ds
	}
	cfg := req.Config
	var emb Embedder
	if embedderOf(cfg) == EmbedderEndpoint {
		var cache Cache
		if dir := cfg.String("cache_dir"); dir != "" {
			dc, err := NewDiskCache(dir)
			if err != nil {
				return nil, append(ds, sdk.AttrError("cache_dir", "Cannot use the cache directory", "%v; give a writable directory", err))
			}
			cache = dc
		}
		c, err := NewClient(ClientOptions{BaseURL: cfg.String("base_url"), Model: cfg.String("model"), APIKey: cfg.String("api_key"), BatchSize: cfg.Int("batch_size"), Cache: cache})
		if err != nil {
			return nil, append(ds, sdk.AttrError("base_url", "Cannot set up the embeddings client", "%v", err))
		}
		emb = c
	} else {
		dim := 512
		if cfg.Has("dim") {
			dim = cfg.Int("dim")
		}
		h, err := NewHashEmbedder(HashEmbedderOptions{Dim: dim})
		if err != nil {
			return nil, append(ds, sdk.AttrError("dim", "Cannot build the hash embedder", "%v", err))
		}
		emb = h
	}
	a, err := NewAccumulator(Options{Embedder: emb})
	if err != nil {
		return nil, append(ds, sdk.Errorf(nil, "Cannot set up the diversity metric", "%v", err))
	}
	return &component{a: a}, ds
}

// component adapts Accumulator to sdk.Accumulator. A per-example value is
// the example's mean distance to all others, so it needs the whole cell and
// every value goes back from Finish.
type component struct{ a *Accumulator }

func (c *component) Add(ctx context.Context, batch []sdk.Example) ([]sdk.ExampleValue, error) {
	exs := make([]Example, len(batch))
	for i, e := range batch {
		exs[i] = Example{ID: e.ID, Prompt: e.Prompt, Response: e.Response}
	}
	return nil, c.a.Add(ctx, exs)
}

func (c *component) Finish(context.Context) ([]sdk.ExampleValue, *sdk.Aggregate, error) {
	r, err := c.a.Finish()
	if err != nil {
		return nil, nil, err
	}
	// NaN (fewer than two embeddable texts, or an empty text) has no
	// place in the store; such values are left out rather than invented.
	put := func(m map[string]float64, k string, v float64) {
		if !math.IsNaN(v) {
			m[k] = v
		}
	}
	vals := make([]sdk.ExampleValue, 0, len(r.IDs))
	for i, id := range r.IDs {
		v := map[string]float64{}
		put(v, "prompt", r.Prompt.PerExample[i])
		put(v, "response", r.Response.PerExample[i])
		if len(v) > 0 {
			vals = append(vals, sdk.ExampleValue{ID: id, Values: v})
		}
	}
	agg := &sdk.Aggregate{Values: map[string]float64{"n": float64(len(r.IDs))}}
	put(agg.Values, "prompt", r.Prompt.Diversity)
	put(agg.Values, "response", r.Response.Diversity)
	put(agg.Values, "prompt_mean_cosine", r.Prompt.MeanCosine)
	put(agg.Values, "response_mean_cosine", r.Response.MeanCosine)
	agg.Details = map[string]any{
		"embedder": r.Embedder, "dim": r.Dim,
		"prompt_skipped": r.Prompt.Skipped, "response_skipped": r.Response.Skipped,
	}
	return vals, agg, nil
}
