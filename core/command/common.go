package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/pluginhost"
	"github.com/polyglot-teachers/polyglot/core/spec"
)

// varFlags collects repeated -var name=value flags.
type varFlags map[string]string

func (v varFlags) String() string { return fmt.Sprint(map[string]string(v)) }
func (v varFlags) Set(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("-var wants name=value, got %q", s)
	}
	v[name] = val
	return nil
}

// specFlags are the flags every command that reads a spec takes.
type specFlags struct {
	vars      varFlags
	pluginDir string
}

func addSpecFlags(fs *flag.FlagSet) *specFlags {
	sf := &specFlags{vars: varFlags{}}
	fs.Var(sf.vars, "var", "set a variable: -var name=value (repeatable)")
	fs.StringVar(&sf.pluginDir, "plugin-dir", pluginhost.DefaultDir(), "plugin folder")
	return sf
}

func dirArg(fs *flag.FlagSet) string {
	if fs.NArg() > 0 {
		return fs.Arg(0)
	}
	return "."
}

// errDiagnostics means diagnostics were already printed.
var errDiagnostics = errors.New("the spec has errors (see above)")

// prepare loads, binds and plans the experiment in dir, printing
// diagnostics. The caller must Close the returned manager.
func prepare(ctx context.Context, env *Env, sf *specFlags, dir string) (*engine.Prepared, *pluginhost.Manager, error) {
	mgr, err := newManager(env, sf.pluginDir, "", nil)
	if err != nil {
		return nil, nil, err
	}
	p, diags := engine.Prepare(ctx, dir, spec.LoadOptions{Vars: sf.vars}, mgr)
	if len(diags) > 0 && p != nil && p.Exp != nil {
		p.Exp.WriteDiagnostics(env.Stderr, diags, isTerminal(env.Stderr))
	}
	if diags.HasErrors() {
		mgr.Close()
		return nil, nil, exitError{1}
	}
	return p, mgr, nil
}
