package spec

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var metricSpec = &blockSpec{
	attrs: []attrSpec{
		{name: "plugin", ty: cty.String, required: true},
		{name: "direction", ty: cty.String},
		{name: "in_score", ty: cty.Bool, def: cty.True},
		{name: "sample", ty: cty.Number},
	},
	config: true,
}

func (l *loader) evalMetric(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, metricSpec, ctx)
	r := newReader(ev, &l.diags)
	m := &Metric{Name: n.name, DeclRange: n.block.DefRange, Ranges: r.ranges()}
	m.Plugin, m.Component = r.pluginRef("plugin")
	m.Direction = r.oneOf("direction", "metric direction", "higher", "lower", "none")
	m.InScore = r.bool("in_score")
	if r.has("sample") {
		m.Sample = r.positiveInt("sample")
	}
	m.Config, m.ConfigRange = configBody(ev, n.block.DefRange)
	l.metrics[n.name] = m
}
