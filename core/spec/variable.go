package spec

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
	},
}

// loadVariables decodes variable blocks and resolves each value from
// LoadOptions.Vars, then POLYGLOT_VAR_<name>, then the default.
func (l *loader) loadVariables(blocks []*hcl.Block) {
	// Defaults may call functions but not refer to anything.
	fctx := &hcl.EvalContext{Functions: l.funcs}
	declared := map[string]*Variable{}
	for _, blk := range blocks {
		name := blk.Labels[0]
		if d := checkIdent(name, "variable", blk.LabelRanges[0]); d != nil {
			l.diags = append(l.diags, d)
			continue
		}
		if prev, ok := declared[name]; ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate variable %q", name),
				Detail:   fmt.Sprintf("Variable %q was already declared at %s; give each variable a unique name.", name, prev.DeclRange),
				Subject:  blk.DefRange.Ptr(),
			})
			continue
		}
		v := &Variable{Name: name, Type: cty.DynamicPseudoType, DeclRange: blk.DefRange}
		declared[name] = v
		l.vars[name] = cty.DynamicVal
		content, d := blk.Body.Content(variableSchema)
		d = advise(d, variableSchema)
		l.diags = append(l.diags, d...)
		broken := d.HasErrors() // set when a bad type or default was already reported
		if a, ok := content.Attributes["type"]; ok {
			ty, d := typeexpr.TypeConstraint(a.Expr)
			l.diags = append(l.diags, d...)
			broken = broken || d.HasErrors()
			if !d.HasErrors() {
				v.Type = ty
			}
		}
		if a, ok := content.Attributes["description"]; ok {
			val, d := a.Expr.Value(fctx)
			l.diags = append(l.diags, d...)
			if s, err := convert.Convert(val, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
				v.Description = s.AsString()
			} else if !d.HasErrors() {
				l.diags = append(l.diags, typeErr("description", cty.String, err, a.Expr))
			}
		}
		if a, ok := content.Attributes["sensitive"]; ok {
			val, d := a.Expr.Value(fctx)
			l.diags = append(l.diags, d...)
			if b, err := convert.Convert(val, cty.Bool); err == nil && b.IsKnown() && !b.IsNull() {
				v.Sensitive = b.True()
			} else if !d.HasErrors() {
				l.diags = append(l.diags, typeErr("sensitive", cty.Bool, err, a.Expr))
			}
		}
		if a, ok := content.Attributes["default"]; ok {
			val, d := a.Expr.Value(fctx)
			l.diags = append(l.diags, d...)
			broken = broken || d.HasErrors()
			if !d.HasErrors() {
				cv, err := convert.Convert(val, v.Type)
				if err != nil {
					broken = true
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid default value for variable",
						Detail:   fmt.Sprintf("The default of variable %q does not match its type %s: %s. Fix the default or the type.", name, typeexpr.TypeString(v.Type), err),
						Subject:  a.Expr.Range().Ptr(),
					})
				} else {
					v.Default = cv
				}
			}
		}
		if !broken {
			l.resolveVariable(v)
		}
		l.e.Variables = append(l.e.Variables, v)
	}
	for _, name := range sortedKeys(l.opts.Vars) {
		if _, ok := declared[name]; !ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("A value was given for %q (-var %s=...) but the spec declares no variable %q.%s Declare it with a variable %q {} block or drop the -var.", name, name, name, didYouMean(name, sortedKeys(declared)), name),
			})
		}
	}
}

func (l *loader) resolveVariable(v *Variable) {
	var raw string
	var ok bool
	if raw, ok = l.opts.Vars[v.Name]; ok {
		v.Source = "var"
	} else if raw, ok = l.opts.Env(EnvVarPrefix + v.Name); ok {
		v.Source = "env"
	}
	switch {
	case ok:
		// The user named this value: as a path, the spec may read it.
		l.allowUserPath(raw)
		val := parseVarValue(raw)
		cv, err := convert.Convert(val, v.Type)
		if err != nil && v.Type == cty.String {
			cv, err = cty.StringVal(raw), nil
		}
		if err != nil {
			where := "-var " + v.Name
			if v.Source == "env" {
				where = "environment variable " + EnvVarPrefix + v.Name
			}
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("The value %q from %s does not fit variable %q of type %s: %s. Give a value of that type (lists as [\"a\", \"b\"]).", raw, where, v.Name, typeexpr.TypeString(v.Type), err),
				Subject:  v.DeclRange.Ptr(),
			})
			return
		}
		v.Value = cv
	case v.Default != cty.NilVal:
		v.Value, v.Source = v.Default, "default"
	default:
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No value for required variable",
			Detail:   fmt.Sprintf("Variable %q has no default. Set it with -var %s=VALUE or the environment variable %s%s, or give the variable a default.", v.Name, v.Name, EnvVarPrefix, v.Name),
			Subject:  v.DeclRange.Ptr(),
		})
		return
	}
	if v.Sensitive {
		AddSecrets(v.Value)
		v.Value = v.Value.Mark(Sensitive)
	}
	l.vars[v.Name] = v.Value
	l.setValue("var."+v.Name, v.Value)
}

// parseVarValue reads a CLI value as an HCL expression when it is a
// self-contained one (number, bool, list, object, quoted string), else as a
// bare string, so that -var model=gpt-4o needs no quoting.
func parseVarValue(raw string) cty.Value {
	if checkLimits([]byte(raw), "<value>", hcl.InitialPos) != nil {
		return cty.StringVal(raw) // too deep or large to be meant as an expression
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), "<value>", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.StringVal(raw)
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.StringVal(raw)
	}
	return v
}

func typeErr(name string, ty cty.Type, err error, expr hcl.Expression) *hcl.Diagnostic {
	msg := "null or unknown value"
	if err != nil {
		msg = err.Error()
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Incorrect attribute value type",
		Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s. Give a value of type %s.", name, msg, typeName(ty)),
		Subject:  expr.Range().Ptr(),
	}
}
