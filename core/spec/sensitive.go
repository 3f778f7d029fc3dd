package spec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/core/secret"
)

type markType string

// Sensitive is the cty mark carried by sensitive values: results of env(),
// variables declared `sensitive = true`, and anything computed from them.
const Sensitive markType = "sensitive"

// redacted is what a sensitive value renders as.
const redacted = "(sensitive)"

// Unmark removes every mark from v and returns the paths inside v that were
// marked sensitive, for callers that must send the plain value on (e.g. to a
// plugin). Keep the paths to redact logs.
//
// Every sensitive string inside v is registered with core/secret, so that
// wherever the plain value travels (a plugin's request, an error it
// echoes) it is redacted before it is stored or logged.
func Unmark(v cty.Value) (cty.Value, []cty.Path) {
	u, pvm := v.UnmarkDeepWithPaths()
	var paths []cty.Path
	for _, p := range pvm {
		if p.Marks.Has(Sensitive) {
			paths = append(paths, p.Path)
			if sv, err := p.Path.Apply(u); err == nil {
				AddSecrets(sv)
			}
		}
	}
	return u, paths
}

// AddSecrets registers every known string inside v (a string, or a
// collection of them at any depth) with core/secret.
func AddSecrets(v cty.Value) {
	if v == cty.NilVal {
		return
	}
	v, _ = v.UnmarkDeep()
	_ = cty.Walk(v, func(_ cty.Path, x cty.Value) (bool, error) {
		if x.IsKnown() && !x.IsNull() && x.Type() == cty.String {
			secret.Add(x.AsString())
		}
		return true, nil
	})
}

// Redact returns v with every sensitive part replaced by the string
// "(sensitive)". Lists, sets and maps containing a sensitive element become
// tuples/objects so that the replacement string can stand next to values of
// other types; the result is for display only.
func (e *Experiment) Redact(v cty.Value) cty.Value { return redact(v) }

func redact(v cty.Value) cty.Value {
	if v == cty.NilVal {
		return v
	}
	if v.HasMark(Sensitive) {
		return cty.StringVal(redacted)
	}
	v, _ = v.Unmark() // other marks are not ours to show
	if !v.ContainsMarked() || v.IsNull() || !v.IsKnown() {
		u, _ := v.UnmarkDeep()
		return u
	}
	ty := v.Type()
	switch {
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		var out []cty.Value
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, redact(e))
		}
		return cty.TupleVal(out)
	case ty.IsMapType() || ty.IsObjectType():
		out := map[string]cty.Value{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = redact(e)
		}
		return cty.ObjectVal(out)
	}
	u, _ := v.UnmarkDeep()
	return u
}

// FormatValue renders v in HCL syntax with sensitive parts redacted.
func FormatValue(v cty.Value) string {
	v = redact(v)
	if v == cty.NilVal {
		return "null"
	}
	if !v.IsWhollyKnown() {
		return "(unknown)"
	}
	return strings.TrimSpace(string(hclwrite.TokensForValue(v).Bytes()))
}

// IsSensitive reports whether the attribute at addr (e.g.
// "teacher.gpt4o.model") or anything inside it was sensitive.
func (e *Experiment) IsSensitive(addr string) bool {
	if e.sensitive[addr] {
		return true
	}
	for s := range e.sensitive {
		if strings.HasPrefix(s, addr+".") || strings.HasPrefix(s, addr+"[") {
			return true
		}
	}
	return false
}

func (e *Experiment) noteSensitive(prefix string, v cty.Value) {
	_, paths := Unmark(v)
	for _, p := range paths {
		e.sensitive[prefix+pathString(p)] = true
	}
}

func pathString(p cty.Path) string {
	var b strings.Builder
	for _, step := range p {
		switch s := step.(type) {
		case cty.GetAttrStep:
			b.WriteString("." + s.Name)
		case cty.IndexStep:
			if s.Key.Type() == cty.String {
				fmt.Fprintf(&b, "[%q]", s.Key.AsString())
			} else {
				fmt.Fprintf(&b, "[%s]", s.Key.AsBigFloat().Text('f', -1))
			}
		}
	}
	return b.String()
}

// String renders every evaluated value as `address = value` in HCL
// syntax, with sensitive values shown as "(sensitive)".
func (e *Experiment) String() string {
	if e == nil {
		return "<nil experiment>"
	}
	addrs := sortedKeys(e.values)
	sort.SliceStable(addrs, func(i, j int) bool { return e.order(addrs[i]) < e.order(addrs[j]) })
	var b strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&b, "%s = %s\n", a, FormatValue(e.values[a]))
	}
	return b.String()
}

func (e *Experiment) order(addr string) int {
	switch {
	case strings.HasPrefix(addr, "var."):
		return 0
	case strings.HasPrefix(addr, "local."):
		return 1
	case addr == "experiment":
		return 2
	}
	return 3
}
