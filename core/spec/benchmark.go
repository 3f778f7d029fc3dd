package spec

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var benchmarkSpec = &blockSpec{attrs: []attrSpec{
	{name: "languages", ty: cty.List(cty.String)},
	{name: "task", ty: cty.String},
	{name: "shots", ty: cty.Number, def: cty.Zero},
	{name: "metric", ty: cty.String, def: cty.StringVal("acc")},
	{name: "weight", ty: cty.Number, def: cty.NumberIntVal(1)},
}}

func (l *loader) evalBenchmark(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, benchmarkSpec, ctx)
	r := newReader(ev, &l.diags)
	b := &Benchmark{Name: n.name, DeclRange: n.block.DefRange, Ranges: r.ranges()}
	b.Languages = r.langList("languages")
	b.Task = r.str("task")
	if b.Task == "" {
		b.Task = n.name
	}
	b.Shots = r.nonNegInt("shots")
	b.Metric = r.str("metric")
	b.Weight = r.num("weight")
	if b.Weight <= 0 {
		r.errorf("weight", "Invalid weight", "weight must be greater than zero, got %g.", b.Weight)
	}
	l.benchmarks[n.name] = b
}
