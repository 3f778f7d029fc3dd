package spec

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var controlKinds = []string{"repair_prompts", "scramble_words", "truncate", "swap_language", "near_copies"}

var controlSpec = &blockSpec{attrs: []attrSpec{
	{name: "kind", ty: cty.String, required: true},
	{name: "seeds", ty: cty.DynamicPseudoType, required: true}, // a name or seeds.NAME
	{name: "caught_by", ty: cty.List(cty.String)},
	{name: "fraction", ty: cty.Number, def: cty.NumberIntVal(1)},
}}

func (l *loader) evalControl(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, controlSpec, ctx)
	r := newReader(ev, &l.diags)
	c := &Control{Name: n.name, DeclRange: n.block.DefRange, Ranges: r.ranges()}
	c.Kind = r.oneOf("kind", "control kind", controlKinds...)
	c.Seeds = r.nameRef("seeds", "seeds")
	c.CaughtBy = r.strList("caught_by")
	c.Fraction = r.num("fraction")
	if c.Fraction <= 0 || c.Fraction > 1 {
		r.errorf("fraction", "Invalid fraction", "fraction must be in (0, 1] (the share of rows corrupted), got %g.", c.Fraction)
	}
	if a, ok := ev.attrs["caught_by"]; ok {
		if l.controlExprs == nil {
			l.controlExprs = map[string]hcl.Expression{}
		}
		l.controlExprs[n.name] = a.Expr
	}
	l.controls[n.name] = c
}

// nameRef reads an attribute that names a block of type root, either as a
// string ("human") or as a reference (seeds.human).
func (r *reader) nameRef(name, root string) string {
	a, ok := r.ev.attrs[name]
	if !ok {
		return ""
	}
	if t, d := hcl.AbsTraversalForExpr(a.Expr); !d.HasErrors() && len(t) == 2 && t.RootName() == root {
		if ta, ok := t[1].(hcl.TraverseAttr); ok {
			return ta.Name
		}
	}
	v, ok := r.get(name)
	if !ok {
		return ""
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		r.errorf(name, "Incorrect attribute value type", "%s must name a %s block, as a string (\"NAME\") or a reference (%s.NAME): %s.", name, root, root, err)
		return ""
	}
	return s.AsString()
}
