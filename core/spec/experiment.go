package spec

import (
	"fmt"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/text/language"
)

var experimentSpec = &blockSpec{attrs: []attrSpec{
	{name: "languages", ty: cty.List(cty.String), required: true},
	{name: "seeds", ty: cty.List(cty.Number), def: cty.ListVal([]cty.Value{cty.NumberIntVal(1)})},
	{name: "store", ty: cty.String, def: cty.StringVal(".polyglot")},
	{name: "examples_per_cell", ty: cty.Number, def: cty.NumberIntVal(10500)},
	{name: "metric_sample", ty: cty.Number, def: cty.NumberIntVal(10000)},
	{name: "budget_usd", ty: cty.Number},
	{name: "allow_read", ty: cty.List(cty.String)}, // read before evaluation: allowReadFromSpec
}}

func (l *loader) evalExperiment(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, experimentSpec, ctx)
	r := newReader(ev, &l.diags)
	e := l.e
	e.Name = n.name
	e.DeclRange = n.block.DefRange
	e.Ranges = r.ranges()
	e.Languages = r.langList("languages")
	if e.Languages != nil && len(e.Languages) == 0 {
		r.errorf("languages", "Empty language list", "An experiment needs at least one target language, e.g. languages = [\"ar\", \"de\"].")
	}
	if v, ok := r.get("seeds"); ok {
		e.RandomSeeds = []int64{}
		for i, f := range v.AsValueSlice() {
			s, ok := wholeNumber(f.AsBigFloat())
			if !ok {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid whole number",
					Detail:   fmt.Sprintf("Random seeds must be whole numbers; element %d is %s.", i, f.AsBigFloat().Text('g', -1)),
					Subject:  r.elemRange("seeds", i).Ptr(),
				})
				continue
			}
			e.RandomSeeds = append(e.RandomSeeds, s)
		}
		if len(e.RandomSeeds) == 0 {
			r.errorf("seeds", "Empty seed list", "Give at least one random seed, e.g. seeds = [1, 2, 3], or leave seeds out for [1].")
		}
	}
	store := r.str("store")
	if store == "" {
		r.errorf("store", "Empty store path", "store must name a folder, e.g. \".polyglot\".")
	} else if filepath.IsAbs(store) {
		e.Store = filepath.Clean(store)
	} else {
		e.Store = filepath.Join(e.Dir, store)
	}
	e.ExamplesPerCell = r.positiveInt("examples_per_cell")
	e.MetricSample = r.positiveInt("metric_sample")
	e.BudgetUSD = r.nonNegNumPtr("budget_usd")
}

func (r *reader) positiveInt(name string) int {
	i := r.int(name)
	if i <= 0 && r.has(name) {
		if v, ok := r.get(name); ok && v.AsBigFloat().IsInt() {
			r.errorf(name, "Invalid "+name, "%s must be greater than zero, got %d.", name, i)
		}
		return 0
	}
	return i
}

func (r *reader) nonNegNumPtr(name string) *float64 {
	p := r.numPtr(name)
	if p != nil && *p < 0 {
		r.errorf(name, "Invalid "+name, "%s must be zero or more, got %g.", name, *p)
		return nil
	}
	return p
}

// langList reads a list of BCP-47 tags, reporting each bad or repeated
// tag at its element.
func (r *reader) langList(name string) []string {
	tags := r.strList(name)
	if tags == nil {
		return nil
	}
	seen := map[string]int{}
	out := []string{}
	for i, t := range tags {
		if d := checkLang(t, r.elemRange(name, i)); d != nil {
			*r.diags = append(*r.diags, d)
			continue
		}
		if j, dup := seen[t]; dup {
			*r.diags = append(*r.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate language",
				Detail:   fmt.Sprintf("%q appears twice in %s (elements %d and %d); list each language once.", t, name, j, i),
				Subject:  r.elemRange(name, i).Ptr(),
			})
			continue
		}
		seen[t] = i
		out = append(out, t)
	}
	return out
}

func (r *reader) lang(name string) string {
	t := r.str(name)
	if t == "" {
		return ""
	}
	if d := checkLang(t, r.rng(name)); d != nil {
		*r.diags = append(*r.diags, d)
		return ""
	}
	return t
}

func checkLang(tag string, rng hcl.Range) *hcl.Diagnostic {
	t, err := language.Parse(tag)
	if err == nil && t != language.Und {
		return nil
	}
	why := "it is the undetermined language"
	if err != nil {
		why = err.Error()
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid language tag",
		Detail:   fmt.Sprintf("%q is not a usable BCP-47 language tag (%s). Use a tag such as \"ar\", \"de\", \"pt-BR\" or \"zh-Hant\".", tag, why),
		Subject:  rng.Ptr(),
	}
}
