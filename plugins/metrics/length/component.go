package length

import (
	"context"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Metric is the `length` metric component: prompt and response lengths in
// tokens of one tiktoken encoding and in characters. It enters the analyses,
// not the score (Direction "none").
type Metric struct{}

// New returns the component; the host serves it as the built-in plugin
// "length".
func New() sdk.Metric { return Metric{} }

// componentEncodings are the encodings the component offers: the two that
// current vendor models use. The library counts older ones too, but a study
// that mixes them would compare lengths in incompatible units.
var componentEncodings = []string{O200kBase, Cl100kBase}

func (Metric) Describe() sdk.Description {
	return sdk.Description{
		Name:        "length",
		Description: "Prompt and response length in tiktoken tokens and Unicode characters (offline; reported, not scored).",
		Schema: sdk.Schema(
			sdk.Attr("encoding", cty.String).Doc(`tiktoken encoding to count tokens with: "o200k_base" or "cl100k_base"`).Default(cty.StringVal(O200kBase)),
		),
		Metric: &sdk.MetricInfo{Direction: "none", Values: []string{"prompt_tokens", "response_tokens", "prompt_chars", "response_chars"}},
	}
}

func (Metric) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	enc := encodingOf(cfg)
	for _, e := range componentEncodings {
		if enc == e {
			return nil
		}
	}
	return sdk.Diagnostics{sdk.AttrError("encoding", "unknown encoding",
		`%q: use "o200k_base" (GPT-4o and later) or "cl100k_base" (GPT-4, GPT-3.5)`, enc)}
}

func encodingOf(cfg sdk.Config) string {
	if !cfg.Has("encoding") {
		return O200kBase
	}
	return cfg.String("encoding")
}

func (m Metric) Open(ctx context.Context, req sdk.MetricRequest) (sdk.Accumulator, sdk.Diagnostics) {
	if d := m.ValidateConfig(ctx, req.Config); d.HasErrors() {
		return nil, d
	}
	a, err := NewAccumulator(Options{Encodings: []string{encodingOf(req.Config)}})
	if err != nil {
		return nil, sdk.Diagnostics{sdk.AttrError("encoding", "Cannot build the tokenizer", "%v", err)}
	}
	return &component{a: a}, nil
}

// component adapts Accumulator to sdk.Accumulator. It reads the counts the
// library has just appended, so per-example values go back from Add and the
// cell's summary comes from the library's Finish.
type component struct{ a *Accumulator }

func (c *component) Add(ctx context.Context, batch []sdk.Example) ([]sdk.ExampleValue, error) {
	exs := make([]Example, len(batch))
	for i, e := range batch {
		exs[i] = Example{ID: e.ID, Prompt: e.Prompt, Response: e.Response}
	}
	start := len(c.a.ids)
	if err := c.a.Add(ctx, exs); err != nil {
		return nil, err
	}
	out := make([]sdk.ExampleValue, len(batch))
	for i, e := range batch {
		j := start + i // one encoding, so token slices have stride 1
		out[i] = sdk.ExampleValue{ID: e.ID, Values: map[string]float64{
			"prompt_tokens":   float64(c.a.promptTok[j]),
			"response_tokens": float64(c.a.respTok[j]),
			"prompt_chars":    float64(c.a.promptChars[j]),
			"response_chars":  float64(c.a.responseChars[j]),
		}}
	}
	return out, nil
}

func (c *component) Finish(context.Context) ([]sdk.ExampleValue, *sdk.Aggregate, error) {
	r, err := c.a.Finish()
	if err != nil {
		return nil, nil, err
	}
	agg := &sdk.Aggregate{Values: map[string]float64{"n": float64(len(r.PerExample))}}
	if len(r.PerExample) == 0 {
		// Means of nothing are NaN, which the store cannot hold; "n" = 0 says why.
		return nil, agg, nil
	}
	agg.Values["prompt_tokens"] = r.PromptTokens[0].Mean
	agg.Values["response_tokens"] = r.ResponseTokens[0].Mean
	agg.Values["prompt_chars"] = r.PromptChars.Mean
	agg.Values["response_chars"] = r.ResponseChars.Mean
	agg.Values["response_tokens_median"] = r.ResponseTokens[0].Median
	agg.Details = map[string]any{"encoding": r.Encodings[0]}
	return nil, agg, nil
}
