package bind

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// TeacherRef is a teacher a component's config names in an attribute its
// schema marks sdk.Attribute.TeacherRef (a judge's `teacher`).
type TeacherRef struct {
	Teacher string
	Path    cty.Path // of the attribute in the config
}

// TeacherRefs lists the teachers c's config names (top-level attributes).
func TeacherRefs(c *Component) []TeacherRef {
	if c == nil || c.Info.Schema == nil || !c.Config.IsKnown() || c.Config.IsNull() || !c.Config.Type().IsObjectType() {
		return nil
	}
	var out []TeacherRef
	for _, a := range c.Info.Schema.Attributes {
		if !a.TeacherRef || !c.Config.Type().HasAttribute(a.Name) {
			continue
		}
		v := c.Config.GetAttr(a.Name)
		if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
			continue
		}
		out = append(out, TeacherRef{Teacher: v.AsString(), Path: cty.GetAttrPath(a.Name)})
	}
	return out
}

// checkTeacherRefs reports, at the attribute, every teacher a metric's or
// student's config names that is not a teacher block of exp, or that
// cannot answer its calls (a replay teacher answers only the experiment's
// own generation calls). Negative controls are not teacher blocks: they
// replay too.
func checkTeacherRefs(exp *spec.Experiment, b *Bound) hcl.Diagnostics {
	var diags hcl.Diagnostics
	names := make([]string, 0, len(exp.Teachers))
	for _, t := range exp.Teachers {
		names = append(names, fmt.Sprintf("%q", t.Name))
	}
	sort.Strings(names)
	check := func(addr string, c *Component, body hcl.Body, fallback hcl.Range) {
		for _, ref := range TeacherRefs(c) {
			rng := RangeOf(body, ref.Path, fallback)
			attr := sdk.PathString(ref.Path)
			t := exp.Teacher(ref.Teacher)
			if t == nil {
				detail := fmt.Sprintf("%s sends calls to the teacher its config.%s names, and the experiment has no teacher block %q.", addr, attr, ref.Teacher)
				if len(names) > 0 {
					detail += " Teachers: " + strings.Join(names, ", ") + "."
				}
				detail += " Name one of them, or add a teacher block (generate = false makes it a helper that serves other blocks only)."
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Unknown teacher %q", ref.Teacher), Detail: detail, Subject: &rng})
				continue
			}
			tc := b.Teachers[t.Name]
			if tc != nil && tc.Info.Teacher != nil && tc.Info.Teacher.Replay {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Teacher %q cannot serve %s", t.Name, addr),
					Detail:  fmt.Sprintf("Teacher %q runs on plugin %q, which replays stored answers found by the calls' seed prompt and language: it answers the experiment's own generation calls and nothing else, so %s (config.%s) would get answers to other questions. Name a teacher that calls a model.", t.Name, tc.Plugin, addr, attr),
					Subject: &rng})
			}
		}
	}
	for _, m := range exp.Metrics {
		if c := b.Metrics[m.Name]; c != nil {
			check("metric."+m.Name, c, m.Config, configRange(m.ConfigRange, m.DeclRange))
		}
	}
	for _, s := range exp.Students {
		if c := b.Students[s.Name]; c != nil {
			check("student."+s.Name, c, s.Config, configRange(s.ConfigRange, s.DeclRange))
		}
	}
	return diags
}

func configRange(cfg *hcl.Range, decl hcl.Range) hcl.Range {
	if cfg != nil {
		return *cfg
	}
	return decl
}
