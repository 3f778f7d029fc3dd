package spec

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

var priceSpec = &blockSpec{attrs: []attrSpec{
	{name: "input_per_mtok", ty: cty.Number, def: cty.Zero},
	{name: "output_per_mtok", ty: cty.Number, def: cty.Zero},
}}

var samplingSpec = &blockSpec{attrs: []attrSpec{
	{name: "temperature", ty: cty.Number},
	{name: "top_p", ty: cty.Number},
	{name: "top_k", ty: cty.Number},
	{name: "max_tokens", ty: cty.Number},
	{name: "seed", ty: cty.Number},
	{name: "stop", ty: cty.List(cty.String)},
}}

var limitsSpec = &blockSpec{attrs: []attrSpec{
	{name: "concurrency", ty: cty.Number, def: cty.NumberIntVal(4)},
	{name: "requests_per_minute", ty: cty.Number, def: cty.Zero},
	{name: "tokens_per_minute", ty: cty.Number, def: cty.Zero},
	{name: "timeout", ty: cty.String, def: cty.StringVal("120s")},
	{name: "max_retries", ty: cty.Number, def: cty.NumberIntVal(5)},
	{name: "max_retry_wait", ty: cty.String, def: cty.StringVal("5m")},
	{name: "budget_usd", ty: cty.Number},
	{name: "reasks", ty: cty.Number, def: cty.Zero},
	{name: "adaptive", ty: cty.Bool, def: cty.False},
}}

var teacherSpec = &blockSpec{
	attrs: []attrSpec{
		{name: "plugin", ty: cty.String, required: true},
		{name: "model", ty: cty.String, required: true},
		{name: "family", ty: cty.String},
		{name: "parameters", ty: cty.Number},
		{name: "benchmark_strength", ty: cty.Number},
		{name: "batch", ty: cty.Bool, def: cty.False},
		{name: "batch_max_requests", ty: cty.Number, def: cty.NumberIntVal(DefaultBatchMaxRequests)},
		{name: "generate", ty: cty.Bool, def: cty.True},
		{name: "context_tokens", ty: cty.Number},
	},
	blocks: []nestedSpec{
		{typeName: "price", spec: priceSpec, max: 1},
		{typeName: "sampling", spec: samplingSpec, max: 1},
		{typeName: "limits", spec: limitsSpec, max: 1},
	},
	config: true,
}

func (l *loader) evalTeacher(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, teacherSpec, ctx)
	r := newReader(ev, &l.diags)
	t := &Teacher{Name: n.name, DeclRange: n.block.DefRange, Ranges: r.ranges()}
	t.Plugin, t.Component = r.pluginRef("plugin")
	t.Model = r.str("model")
	t.Family = r.str("family")
	t.Parameters = r.nonNegNumPtr("parameters")
	t.BenchmarkStrength = r.numPtr("benchmark_strength")
	t.Batch = r.bool("batch")
	t.BatchMaxRequests = r.positiveInt("batch_max_requests")
	t.Generate = r.bool("generate")
	if v := r.nonNegNumPtr("context_tokens"); v != nil {
		n := int(*v)
		t.ContextTokens = &n
	}

	p := r.sub("price")
	t.Price = Price{InputPerMTok: p.num("input_per_mtok"), OutputPerMTok: p.num("output_per_mtok")}
	for _, k := range []string{"input_per_mtok", "output_per_mtok"} {
		if p.num(k) < 0 {
			p.errorf(k, "Invalid price", "%s must be zero or more (USD per million tokens).", k)
		}
	}

	s := r.sub("sampling")
	t.Sampling = Sampling{
		Temperature: s.nonNegNumPtr("temperature"),
		TopP:        s.numPtr("top_p"),
		TopK:        s.intOptPtr("top_k"),
		MaxTokens:   s.intOptPtr("max_tokens"),
		Seed:        s.intPtr("seed"),
		Stop:        s.strList("stop"),
	}
	if tp := t.Sampling.TopP; tp != nil && (*tp <= 0 || *tp > 1) {
		s.errorf("top_p", "Invalid top_p", "top_p must be in (0, 1], got %g.", *tp)
	}

	lim := r.sub("limits")
	t.Limits = Limits{
		Concurrency:       lim.positiveInt("concurrency"),
		RequestsPerMinute: lim.nonNegInt("requests_per_minute"),
		TokensPerMinute:   lim.nonNegInt("tokens_per_minute"),
		MaxRetries:        lim.nonNegInt("max_retries"),
		BudgetUSD:         lim.nonNegNumPtr("budget_usd"),
		Reasks:            lim.nonNegInt("reasks"),
		Adaptive:          lim.bool("adaptive"),
	}
	if d, ok := lim.duration("timeout"); ok {
		t.Limits.Timeout = d
	} else if !lim.has("timeout") {
		t.Limits.Timeout = 120 * time.Second
	}
	if d, ok := lim.duration("max_retry_wait"); ok {
		t.Limits.MaxRetryWait = d
	} else if !lim.has("max_retry_wait") {
		t.Limits.MaxRetryWait = 5 * time.Minute
	}
	t.Config, t.ConfigRange = configBody(ev, n.block.DefRange)
	l.teachers[n.name] = t
}

// configBody returns the raw plugin config body, or an empty body whose
// missing-item range is the owning block, so that "missing required
// argument" errors from the plugin's schema point somewhere useful.
func configBody(ev *evaluated, owner hcl.Range) (hcl.Body, *hcl.Range) {
	if ev.config != nil {
		rng := ev.config.DefRange
		return ev.config.Body, &rng
	}
	return &hclsyntax.Body{SrcRange: owner, EndRange: owner}, nil
}
