package spec

import (
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// A small declarative schema per block type. gohcl cannot keep marks,
// defaults and per-attribute ranges together, and hcldec alone loses the
// ranges, so each block is evaluated into a cty object (used for references
// like teacher.x.model) and then read into typed structs with ranges.

type attrSpec struct {
	name     string
	ty       cty.Type
	required bool
	def      cty.Value // cty.NilVal: null of ty
}

type nestedSpec struct {
	typeName string
	label    string // label name; "" for unlabeled blocks
	spec     *blockSpec
	max      int // 0 = unlimited
	min      int
}

type blockSpec struct {
	attrs  []attrSpec
	blocks []nestedSpec
	config bool // a plugin-owned `config {}` block is allowed
}

func (bs *blockSpec) hclSchema() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, a := range bs.attrs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a.name, Required: a.required})
	}
	for _, b := range bs.blocks {
		bt := hcl.BlockHeaderSchema{Type: b.typeName}
		if b.label != "" {
			bt.LabelNames = []string{b.label}
		}
		s.Blocks = append(s.Blocks, bt)
	}
	if bs.config {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: "config"})
	}
	return s
}

// defaults returns the object a block has when it is absent.
func (bs *blockSpec) defaults() cty.Value {
	m := map[string]cty.Value{}
	for _, a := range bs.attrs {
		if a.def != cty.NilVal {
			m[a.name] = a.def
		} else {
			m[a.name] = cty.NullVal(a.ty)
		}
	}
	for _, b := range bs.blocks {
		switch {
		case b.max == 1 && b.label == "":
			m[b.typeName] = b.spec.defaults()
		default:
			m[b.typeName] = cty.EmptyObjectVal
		}
	}
	return cty.ObjectVal(m)
}

// evaluated is one block body after evaluation.
type evaluated struct {
	val    cty.Value // object; marks kept
	body   hcl.Body
	owner  hcl.Range // the owning block's header (for missing items)
	attrs  map[string]*hcl.Attribute
	blocks map[string][]*evalBlock
	config *hcl.Block
}

type evalBlock struct {
	block *hcl.Block
	ev    *evaluated
}

func evalBody(body hcl.Body, bs *blockSpec, ctx *hcl.EvalContext, owner hcl.Range) (*evaluated, hcl.Diagnostics) {
	schema := bs.hclSchema()
	content, diags := body.Content(schema)
	diags = advise(diags, schema)
	ev := &evaluated{body: body, owner: owner, attrs: content.Attributes, blocks: map[string][]*evalBlock{}}
	obj := map[string]cty.Value{}
	for _, a := range bs.attrs {
		attr, ok := content.Attributes[a.name]
		if !ok {
			if a.def != cty.NilVal {
				obj[a.name] = a.def
			} else {
				obj[a.name] = cty.NullVal(a.ty)
			}
			continue
		}
		v, d := attr.Expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			obj[a.name] = cty.UnknownVal(a.ty)
			continue
		}
		if a.ty != cty.DynamicPseudoType {
			cv, err := convert.Convert(v, a.ty)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity:    hcl.DiagError,
					Summary:     "Incorrect attribute value type",
					Detail:      fmt.Sprintf("Inappropriate value for attribute %q: %s. Give a value of type %s.", a.name, err.Error(), typeName(a.ty)),
					Subject:     attr.Expr.Range().Ptr(),
					Expression:  attr.Expr,
					EvalContext: ctx,
				})
				obj[a.name] = cty.UnknownVal(a.ty)
				continue
			}
			v = cv
		}
		if v.IsNull() && a.def != cty.NilVal {
			v = a.def
		}
		obj[a.name] = v
	}

	byType := map[string][]*hcl.Block{}
	for _, blk := range content.Blocks {
		if blk.Type == "config" {
			if ev.config != nil {
				diags = append(diags, dupBlock(blk, ev.config.DefRange))
				continue
			}
			ev.config = blk
			continue
		}
		byType[blk.Type] = append(byType[blk.Type], blk)
	}
	for _, nb := range bs.blocks {
		blks := byType[nb.typeName]
		if nb.max > 0 && len(blks) > nb.max {
			for _, extra := range blks[nb.max:] {
				diags = append(diags, dupBlock(extra, blks[0].DefRange))
			}
			blks = blks[:nb.max]
		}
		if len(blks) < nb.min {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Missing %s block", nb.typeName),
				Detail:   fmt.Sprintf("This block needs at least %d %q block(s); add one.", nb.min, nb.typeName),
				Subject:  owner.Ptr(),
			})
		}
		labeled := map[string]cty.Value{}
		var list []cty.Value
		seen := map[string]hcl.Range{}
		for _, blk := range blks {
			if nb.label != "" {
				name := blk.Labels[0]
				if d := checkIdent(name, nb.typeName, blk.LabelRanges[0]); d != nil {
					diags = append(diags, d)
					continue
				}
				if prev, dup := seen[name]; dup {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  fmt.Sprintf("Duplicate %s %q", nb.typeName, name),
						Detail:   fmt.Sprintf("A %s named %q was already declared at %s; give each one a unique name.", nb.typeName, name, prev),
						Subject:  blk.DefRange.Ptr(),
					})
					continue
				}
				seen[name] = blk.DefRange
			}
			sub, d := evalBody(blk.Body, nb.spec, ctx, blk.DefRange)
			diags = append(diags, d...)
			ev.blocks[nb.typeName] = append(ev.blocks[nb.typeName], &evalBlock{block: blk, ev: sub})
			if nb.label != "" {
				labeled[blk.Labels[0]] = sub.val
			} else {
				list = append(list, sub.val)
			}
		}
		switch {
		case nb.label != "":
			obj[nb.typeName] = cty.ObjectVal(labeled)
		case nb.max == 1:
			if len(list) == 1 {
				obj[nb.typeName] = list[0]
			} else {
				obj[nb.typeName] = nb.spec.defaults()
			}
		default:
			obj[nb.typeName] = cty.TupleVal(list)
		}
	}
	ev.val = cty.ObjectVal(obj)
	return ev, diags
}

func dupBlock(blk *hcl.Block, first hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s block", blk.Type),
		Detail:   fmt.Sprintf("Only one %s block is allowed here; the first is at %s. Merge them or remove this one.", blk.Type, first),
		Subject:  blk.DefRange.Ptr(),
	}
}

func checkIdent(name, what string, rng hcl.Range) *hcl.Diagnostic {
	if hclsyntax.ValidIdentifier(name) {
		return nil
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid name",
		Detail:   fmt.Sprintf("%q is not a valid %s name: a name must start with a letter or underscore and contain only letters, digits, underscores and dashes.", name, what),
		Subject:  rng.Ptr(),
	}
}

func typeName(t cty.Type) string {
	if t == cty.DynamicPseudoType {
		return "any"
	}
	return t.FriendlyName()
}

// reader reads typed fields out of an evaluated block. Values that failed to
// evaluate are unknown and read as zero without a second diagnostic.
type reader struct {
	ev    *evaluated
	val   cty.Value // unmarked object
	diags *hcl.Diagnostics
}

func newReader(ev *evaluated, diags *hcl.Diagnostics) *reader {
	v, _ := ev.val.UnmarkDeep()
	return &reader{ev: ev, val: v, diags: diags}
}

func (r *reader) sub(typeName string) *reader {
	if bs := r.ev.blocks[typeName]; len(bs) > 0 {
		return newReader(bs[0].ev, r.diags)
	}
	// Absent single block: defaults, ranges pointing at the owner.
	ev := &evaluated{val: r.val.GetAttr(typeName), owner: r.ev.owner, attrs: map[string]*hcl.Attribute{}, blocks: map[string][]*evalBlock{}}
	return &reader{ev: ev, val: ev.val, diags: r.diags}
}

func (r *reader) get(name string) (cty.Value, bool) {
	if !r.val.Type().IsObjectType() || !r.val.Type().HasAttribute(name) {
		return cty.NilVal, false
	}
	v := r.val.GetAttr(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return v, false
	}
	return v, true
}

func (r *reader) has(name string) bool { _, ok := r.ev.attrs[name]; return ok }

func (r *reader) rng(name string) hcl.Range {
	if a, ok := r.ev.attrs[name]; ok {
		return a.Expr.Range()
	}
	return r.ev.owner
}

func (r *reader) ranges() map[string]hcl.Range {
	m := map[string]hcl.Range{}
	for n, a := range r.ev.attrs {
		m[n] = a.Expr.Range()
	}
	return m
}

func (r *reader) errorf(name, summary, detail string, args ...any) {
	*r.diags = append(*r.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  r.rng(name).Ptr(),
	})
}

func (r *reader) str(name string) string {
	if v, ok := r.get(name); ok {
		return v.AsString()
	}
	return ""
}

func (r *reader) bool(name string) bool {
	if v, ok := r.get(name); ok {
		return v.True()
	}
	return false
}

func (r *reader) num(name string) float64 {
	f, _ := r.numPtrOK(name)
	return f
}

func (r *reader) numPtr(name string) *float64 {
	f, ok := r.numPtrOK(name)
	if !ok {
		return nil
	}
	return &f
}

func (r *reader) numPtrOK(name string) (float64, bool) {
	v, ok := r.get(name)
	if !ok {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	return f, true
}

func (r *reader) int(name string) int {
	p := r.intPtr(name)
	if p == nil {
		return 0
	}
	return int(*p)
}

func (r *reader) intPtr(name string) *int64 {
	v, ok := r.get(name)
	if !ok {
		return nil
	}
	i, ok := wholeNumber(v.AsBigFloat())
	if !ok {
		r.errorf(name, "Invalid whole number", "%s must be a whole number, got %s.", name, v.AsBigFloat().Text('g', -1))
		return nil
	}
	return &i
}

func (r *reader) nonNegInt(name string) int {
	i := r.int(name)
	if i < 0 {
		r.errorf(name, "Invalid negative number", "%s must be zero or more, got %d.", name, i)
		return 0
	}
	return i
}

func (r *reader) intOptPtr(name string) *int {
	p := r.intPtr(name)
	if p == nil {
		return nil
	}
	if *p < 0 {
		r.errorf(name, "Invalid negative number", "%s must be zero or more, got %d.", name, *p)
		return nil
	}
	i := int(*p)
	return &i
}

func wholeNumber(f *big.Float) (int64, bool) {
	if !f.IsInt() {
		return 0, false
	}
	i, acc := f.Int64()
	return i, acc == big.Exact
}

func (r *reader) strList(name string) []string {
	v, ok := r.get(name)
	if !ok {
		return nil
	}
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			continue
		}
		out = append(out, e.AsString())
	}
	return out
}

func (r *reader) numList(name string) []float64 {
	v, ok := r.get(name)
	if !ok {
		return nil
	}
	out := []float64{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			continue
		}
		f, _ := e.AsBigFloat().Float64()
		out = append(out, f)
	}
	return out
}

func (r *reader) strMap(name string) map[string]string {
	v, ok := r.get(name)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			continue
		}
		out[k.AsString()] = e.AsString()
	}
	return out
}

func (r *reader) duration(name string) (time.Duration, bool) {
	s := r.str(name)
	if s == "" {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.errorf(name, "Invalid duration", "%s must be a positive duration such as \"60s\" or \"2m30s\", got %q.", name, s)
		return 0, false
	}
	return d, true
}

// elemRange is the range of element i of a list literal, or the whole
// expression when it is not a literal.
func elemRange(expr hcl.Expression, i int) hcl.Range {
	if t, ok := expr.(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
		return t.Exprs[i].Range()
	}
	return expr.Range()
}

func (r *reader) elemRange(name string, i int) hcl.Range {
	if a, ok := r.ev.attrs[name]; ok {
		return elemRange(a.Expr, i)
	}
	return r.ev.owner
}

// oneOf checks an enum attribute; "" is left to the caller (default).
func (r *reader) oneOf(name, what string, allowed ...string) string {
	s := r.str(name)
	if s == "" && !r.has(name) {
		return ""
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	r.errorf(name, "Invalid "+what, "%q is not a valid %s.%s Use one of: %s.", s, what, didYouMean(s, allowed), quoteList(allowed))
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
