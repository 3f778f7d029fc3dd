package command

import (
	"strings"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// commandLine is the command as recorded in the store's runs table, with
// the value of every -var whose variable is sensitive replaced: the store
// outlives the terminal session, and a secret passed on the command line
// must not end up in it. (Secrets long enough to search for are also
// removed by the store's redaction, core/secret; this catches the short
// ones too.)
func commandLine(name string, args []string, exp *spec.Experiment) string {
	out := make([]string, 0, len(args)+2)
	out = append(out, "polyglot", name)
	hide := func(nv string) string {
		n, _, ok := strings.Cut(nv, "=")
		if ok && exp != nil && exp.IsSensitive("var."+n) {
			return n + "=(sensitive)"
		}
		return nv
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		flagName, val, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		isVar := strings.HasPrefix(a, "-") && flagName == "var"
		switch {
		case a == "--":
			out = append(out, args[i:]...)
			return strings.Join(out, " ")
		case isVar && inline:
			out = append(out, a[:len(a)-len(val)]+hide(val))
		case isVar && i+1 < len(args):
			out = append(out, a, hide(args[i+1]))
			i++
		default:
			out = append(out, a)
		}
	}
	return strings.Join(out, " ")
}
