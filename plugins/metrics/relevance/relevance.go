// Package relevance is an offline metric of how much a response is about its
// prompt: the cosine similarity of the two texts' hashed character n-gram
// embeddings. It is crude (it rewards shared words, not understanding), but
// it needs no model, and it is what catches responses paired with the wrong
// prompts, which fluency and language metrics cannot see. An LM judge is
// the better measure where one is available.
package relevance

import (
	"context"
	"math"
	"sort"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/plugins/metrics/diversity"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// Metric is the relevance component.
type Metric struct{}

// New returns the component.
func New() sdk.Metric { return Metric{} }

func (Metric) Describe() sdk.Description {
	return sdk.Description{
		Name:        "relevance",
		Description: "Lexical prompt-response relevance: cosine of hashed character n-gram embeddings (offline).",
		Schema: sdk.Schema(
			sdk.Attr("dim", cty.Number).Default(cty.NumberIntVal(1024)).Doc("embedding dimension"),
		),
		Metric: &sdk.MetricInfo{Direction: "higher", Values: []string{"value"}},
	}
}

func (Metric) ValidateConfig(ctx context.Context, cfg sdk.Config) sdk.Diagnostics {
	if d := cfg.Int("dim"); d < 16 || d > 1<<16 {
		return sdk.Diagnostics{sdk.AttrError("dim", "dim out of range", "dim is %d; use 16 to 65536.", d)}
	}
	return nil
}

func (m Metric) Open(ctx context.Context, req sdk.MetricRequest) (sdk.Accumulator, sdk.Diagnostics) {
	if d := m.ValidateConfig(ctx, req.Config); d.HasErrors() {
		return nil, d
	}
	emb, err := diversity.NewHashEmbedder(diversity.HashEmbedderOptions{Dim: req.Config.Int("dim")})
	if err != nil {
		return nil, sdk.Diagnostics{sdk.AttrError("dim", "Cannot build the embedder", "%v", err)}
	}
	return &acc{emb: emb}, nil
}

type acc struct {
	emb  *diversity.HashEmbedder
	vals []float64
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

func (a *acc) Add(ctx context.Context, batch []sdk.Example) ([]sdk.ExampleValue, error) {
	out := make([]sdk.ExampleValue, len(batch))
	for i, e := range batch {
		v := cosine(a.emb.EmbedText(e.Prompt), a.emb.EmbedText(e.Response))
		a.vals = append(a.vals, v)
		out[i] = sdk.ExampleValue{ID: e.ID, Values: map[string]float64{"value": v}}
	}
	return out, nil
}

func (a *acc) Finish(ctx context.Context) ([]sdk.ExampleValue, *sdk.Aggregate, error) {
	n := len(a.vals)
	agg := &sdk.Aggregate{Values: map[string]float64{"n": float64(n)}}
	if n == 0 {
		return nil, agg, nil
	}
	sum := 0.0
	for _, v := range a.vals {
		sum += v
	}
	s := append([]float64(nil), a.vals...)
	sort.Float64s(s)
	agg.Values["value"] = sum / float64(n)
	agg.Values["median"] = s[n/2]
	return nil, agg, nil
}
