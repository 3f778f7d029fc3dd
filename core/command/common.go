package command

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/plan"
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
	// Plugin timeouts (see pluginhost.Manager).
	pluginStart, pluginCall time.Duration
	allowRead               onlyFlag // --allow-read DIR: files outside the spec folder it may read
}

func addSpecFlags(fs *flag.FlagSet) *specFlags {
	sf := &specFlags{vars: varFlags{}}
	fs.Var(sf.vars, "var", "set a variable: -var name=value (repeatable)")
	fs.StringVar(&sf.pluginDir, "plugin-dir", pluginhost.DefaultDir(), "plugin folder")
	fs.DurationVar(&sf.pluginStart, "plugin-start-timeout", pluginhost.DefaultStartTimeout, "how long a plugin may take to start and answer its first call")
	fs.DurationVar(&sf.pluginCall, "plugin-call-timeout", pluginhost.DefaultCallTimeout, "how long a plugin may take to open a teacher or metric, or to measure one batch of examples (training is not bounded)")
	fs.Var(&sf.allowRead, "allow-read", "let the spec read files in this folder outside its own (file(), templates, seeds; repeatable)")
	return sf
}

// onlyFlag collects --only key=value pairs, comma-separated or repeated.
type onlyFlag []string

func (o *onlyFlag) String() string { return strings.Join(*o, ",") }
func (o *onlyFlag) Set(s string) error {
	*o = append(*o, s)
	return nil
}

func addOnlyFlag(fs *flag.FlagSet) *onlyFlag {
	o := &onlyFlag{}
	fs.Var(o, "only", "restrict to some units, e.g. teacher=aya,language=de (keys: teacher, language, strategy, metric, student, stage; comma-separated or repeated)")
	return o
}

// resolve parses the filter and checks every value against the plan: a
// name that matches nothing would otherwise restrict the run to nothing,
// or, worse, be read as no restriction.
func (o *onlyFlag) resolve(p *plan.Plan) (map[string]string, error) {
	m, err := engine.ParseOnly(o.String())
	if err != nil {
		return nil, usageError{err.Error()}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		valid := onlyValues(p, k)
		if !slices.Contains(valid, m[k]) {
			return nil, usagef("--only %s=%s matches nothing; the %ss of this experiment are: %s", k, m[k], k, strings.Join(valid, ", "))
		}
	}
	return m, nil
}

// onlyValues returns the values --only KEY can take in p, sorted.
func onlyValues(p *plan.Plan, key string) []string {
	seen := map[string]bool{}
	if key == "stage" {
		for _, s := range plan.Stages {
			seen[string(s)] = true
		}
	}
	for _, u := range p.Units {
		if v := u.Field(key); v != "" && key != "stage" {
			seen[v] = true
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// jsonFormatVersion is the "format_version" of every JSON output of the
// CLI. Raise it when a key changes meaning or goes away; adding keys does
// not change it. Keys are snake_case and counts are present when zero.
const jsonFormatVersion = 1

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
	if sf.pluginStart <= 0 || sf.pluginCall <= 0 {
		return nil, nil, usageError{"--plugin-start-timeout and --plugin-call-timeout must be positive durations, such as 90s or 15m"}
	}
	mgr.StartTimeout, mgr.CallTimeout = sf.pluginStart, sf.pluginCall
	p, diags := engine.Prepare(ctx, dir, spec.LoadOptions{Vars: sf.vars, AllowRead: sf.allowRead}, mgr)
	if len(diags) > 0 && p != nil && p.Exp != nil {
		p.Exp.WriteDiagnostics(env.Stderr, diags, useColor(env.Stderr))
	}
	if diags.HasErrors() {
		mgr.Close()
		return nil, nil, exitError{1}
	}
	return p, mgr, nil
}
