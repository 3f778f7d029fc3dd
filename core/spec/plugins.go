package spec

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// evalPlugin decodes one required_plugins entry:
// NAME = { source = "...", version = ">= 0.1.0", replaces_builtin = false }.
func (l *loader) evalPlugin(n *node, ctx *hcl.EvalContext) {
	v, d := n.attr.Expr.Value(ctx)
	l.diags = append(l.diags, d...)
	if d.HasErrors() {
		return
	}
	l.setValue(n.addr, v)
	v, _ = v.UnmarkDeep()
	rng := n.attr.Expr.Range()
	fail := func(summary, detail string, args ...any) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(detail, args...), Subject: rng.Ptr(),
		})
	}
	if v.IsNull() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		fail("Invalid plugin requirement", "%s must be an object like { source = \"github.com/acme/polyglot-plugin-x\", version = \">= 0.1.0\" }.", n.name)
		return
	}
	rp := &RequiredPlugin{Name: n.name, DeclRange: n.attr.Range}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		key := k.AsString()
		krng := objectKeyRange(n.attr.Expr, key, rng)
		if key != "source" && key != "version" && key != "replaces_builtin" {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported plugin requirement argument",
				Detail:   fmt.Sprintf("%q is not expected here.%s A requirement takes source, version and replaces_builtin.", key, didYouMean(key, []string{"source", "version", "replaces_builtin"})),
				Subject:  krng.Ptr(),
			})
			continue
		}
		if key == "replaces_builtin" {
			if e.IsNull() || e.Type() != cty.Bool {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
					Detail: fmt.Sprintf("replaces_builtin of plugin %q must be true or false.", n.name), Subject: krng.Ptr(),
				})
				continue
			}
			rp.ReplacesBuiltin = e.True()
			continue
		}
		if e.IsNull() || e.Type() != cty.String {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Incorrect attribute value type",
				Detail: fmt.Sprintf("%s of plugin %q must be a string.", key, n.name), Subject: krng.Ptr(),
			})
			continue
		}
		if key == "source" {
			rp.Source = e.AsString()
			continue
		}
		rp.Version = e.AsString()
		c, err := version.NewConstraint(rp.Version)
		if err != nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid version constraint",
				Detail:   fmt.Sprintf("%q is not a version constraint (%v). Write constraints like \">= 0.1.0\", \"~> 1.2\" or \">= 1.0, < 2.0\".", rp.Version, err),
				Subject:  krng.Ptr(),
			})
			continue
		}
		rp.Constraints = c
	}
	if strings.TrimSpace(rp.Source) == "" {
		fail("Missing plugin source", "Plugin %q needs source = \"...\" naming where it comes from (a module path or a local folder).", n.name)
		return
	}
	l.plugins[n.name] = rp
}

// objectKeyRange finds the value range of key in an object literal.
func objectKeyRange(expr hcl.Expression, key string, fallback hcl.Range) hcl.Range {
	oc, ok := expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return fallback
	}
	for _, it := range oc.Items {
		k, d := it.KeyExpr.Value(nil)
		if !d.HasErrors() && k.Type() == cty.String && k.AsString() == key {
			return it.ValueExpr.Range()
		}
	}
	return fallback
}

// pluginRef reads "NAME" or "NAME/COMPONENT".
func (r *reader) pluginRef(name string) (string, string) {
	s := r.str(name)
	if s == "" {
		if r.has(name) {
			r.errorf(name, "Empty plugin name", "%s must name a plugin, e.g. \"openai\" or \"openai/chat\".", name)
		}
		return "", ""
	}
	parts := strings.Split(s, "/")
	ok := len(parts) <= 2
	for _, p := range parts {
		ok = ok && hclsyntax.ValidIdentifier(p)
	}
	if !ok {
		r.errorf(name, "Invalid plugin reference", "%q is not a plugin reference. Write \"NAME\" or \"NAME/COMPONENT\" where each part is a name of letters, digits, '_' and '-'.", s)
		return "", ""
	}
	if len(parts) == 2 {
		return parts[0], parts[1]
	}
	return parts[0], ""
}
