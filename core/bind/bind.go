// Package bind connects the spec's plugin-owned blocks (teacher, metric,
// student) to running plugin components: it resolves each block's plugin
// and component, decodes the block's raw `config { }` body against the
// schema the component declares (hcldec, so every error keeps its
// file:line), asks the component to validate the value, and maps the
// diagnostics it returns, which carry attribute paths, back to source ranges.
package bind

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/core/pluginhost"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// Component is one spec block bound to a plugin component.
type Component struct {
	Kind    sdk.Kind
	Address string // "teacher.gpt4o"
	Plugin  string
	Name    string // component name inside the plugin
	Version string
	Running *pluginhost.Running
	Info    sdk.ComponentInfo
	// Config is the decoded config with sensitive marks removed: it is what
	// the plugin receives. Never log it; use Redacted.
	Config cty.Value
	// Redacted is Config with every sensitive value replaced, safe to log,
	// store and hash.
	Redacted cty.Value
	Body     hcl.Body
}

// Bound holds every bound block, by block name.
type Bound struct {
	Teachers map[string]*Component
	Metrics  map[string]*Component
	Students map[string]*Component
}

// Resolver starts plugins; pluginhost.Manager implements it.
type Resolver interface {
	Get(ctx context.Context, name string) (*pluginhost.Running, error)
}

// Bind binds every plugin block of exp. extraTeachers are synthetic
// teachers (negative controls) the caller adds; they use built-in plugins.
func Bind(ctx context.Context, exp *spec.Experiment, r Resolver) (*Bound, hcl.Diagnostics) {
	b := &Bound{Teachers: map[string]*Component{}, Metrics: map[string]*Component{}, Students: map[string]*Component{}}
	var diags hcl.Diagnostics
	for _, t := range exp.Teachers {
		c, d := bindOne(ctx, exp, r, blockRef{sdk.KindTeacher, "teacher." + t.Name, t.Plugin, t.Component, t.Config, t.ConfigRange, t.DeclRange, t.Ranges["plugin"]})
		diags = append(diags, d...)
		if c != nil {
			b.Teachers[t.Name] = c
		}
	}
	for _, m := range exp.Metrics {
		c, d := bindOne(ctx, exp, r, blockRef{sdk.KindMetric, "metric." + m.Name, m.Plugin, m.Component, m.Config, m.ConfigRange, m.DeclRange, m.Ranges["plugin"]})
		diags = append(diags, d...)
		if c != nil {
			b.Metrics[m.Name] = c
		}
	}
	for _, s := range exp.Students {
		c, d := bindOne(ctx, exp, r, blockRef{sdk.KindTrainer, "student." + s.Name, s.Trainer, s.TrainerComponent, s.Config, s.ConfigRange, s.DeclRange, s.Ranges["trainer"]})
		diags = append(diags, d...)
		if c != nil {
			b.Students[s.Name] = c
		}
	}
	diags = append(diags, checkTeacherRefs(exp, b)...)
	return b, diags
}

type blockRef struct {
	kind        sdk.Kind
	addr        string
	plugin      string
	component   string
	body        hcl.Body
	configRange *hcl.Range
	declRange   hcl.Range
	pluginRange hcl.Range
}

func (br blockRef) subject() *hcl.Range {
	if br.pluginRange.Filename != "" {
		r := br.pluginRange
		return &r
	}
	r := br.declRange
	return &r
}

func bindOne(ctx context.Context, exp *spec.Experiment, r Resolver, br blockRef) (*Component, hcl.Diagnostics) {
	run, err := r.Get(ctx, br.plugin)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Plugin %q unavailable", br.plugin), Detail: err.Error(), Subject: br.subject()}}
	}
	info, d := pickComponent(run.Info, br)
	if d != nil {
		return nil, hcl.Diagnostics{d}
	}
	val, diags := spec.DecodeBody(br.body, info.Schema.DecoderSpec(), exp.EvalContext())
	for _, d := range diags {
		// hcldec's wording knows nothing of plugins: say whose schema it is
		// and how to see it.
		d.Detail = strings.TrimSpace(d.Detail + fmt.Sprintf(" This is the config block of %s, checked against the schema of plugin %q (component %q); run `polyglot plugins describe %s` to see every attribute it takes.", br.addr, br.plugin, info.Name, br.plugin))
	}
	if diags.HasErrors() {
		return nil, diags
	}
	plain, _ := spec.Unmark(val)
	c := &Component{Kind: br.kind, Address: br.addr, Plugin: br.plugin, Name: info.Name, Version: run.Info.Version, Running: run, Info: info, Config: plain, Redacted: Redact(val, info.Schema), Body: br.body}
	pd, err := run.Client.ValidateConfig(ctx, br.kind, info.Name, plain)
	if err != nil {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Plugin %q failed to validate %s", br.plugin, br.addr), Detail: fmt.Sprintf("%v", err), Subject: br.subject()})
	}
	diags = append(diags, MapDiagnostics(pd, br.body, br.configRange, br.declRange)...)
	if diags.HasErrors() {
		return nil, diags
	}
	return c, diags
}

func pickComponent(pi *sdk.PluginInfo, br blockRef) (sdk.ComponentInfo, *hcl.Diagnostic) {
	var ofKind []sdk.ComponentInfo
	for _, c := range pi.Components {
		if c.Kind == br.kind {
			ofKind = append(ofKind, c)
		}
	}
	want := br.component
	if want == "" {
		for _, c := range ofKind {
			if c.Name == br.plugin {
				return c, nil
			}
		}
		if len(ofKind) == 1 {
			return ofKind[0], nil
		}
	} else {
		for _, c := range ofKind {
			if c.Name == want {
				return c, nil
			}
		}
	}
	names := make([]string, len(ofKind))
	for i, c := range ofKind {
		names[i] = fmt.Sprintf("%q", br.plugin+"/"+c.Name)
	}
	sort.Strings(names)
	detail := fmt.Sprintf("Plugin %q carries no %s component", br.plugin, br.kind)
	if want != "" {
		detail += fmt.Sprintf(" named %q", want)
	}
	if len(names) > 0 {
		detail += ". Choose one of: " + strings.Join(names, ", ")
	} else {
		detail += "; it is not a " + br.kind.String() + " plugin"
	}
	return sdk.ComponentInfo{}, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("No %s component %q in plugin %q", br.kind, want, br.plugin), Detail: detail + ".", Subject: br.subject()}
}

// MapDiagnostics turns a plugin's diagnostics into HCL diagnostics whose
// subject is the attribute the plugin's path names.
func MapDiagnostics(ds sdk.Diagnostics, body hcl.Body, configRange *hcl.Range, declRange hcl.Range) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range ds {
		sev := hcl.DiagError
		if d.Severity == sdk.Warning {
			sev = hcl.DiagWarning
		}
		fallback := declRange
		if configRange != nil {
			fallback = *configRange
		}
		rng := RangeOf(body, d.Path, fallback)
		summary := d.Summary
		if p := sdk.PathString(d.Path); p != "" && !strings.Contains(summary, p) {
			summary = fmt.Sprintf("%s (config.%s)", summary, p)
		}
		out = append(out, &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: d.Detail, Subject: &rng})
	}
	return out
}

// RangeOf finds the source range of the attribute or block at path inside
// body, falling back to the closest enclosing range it can find.
func RangeOf(body hcl.Body, path cty.Path, fallback hcl.Range) hcl.Range {
	sb, ok := body.(*hclsyntax.Body)
	if !ok || len(path) == 0 {
		return fallback
	}
	step, ok := path[0].(cty.GetAttrStep)
	if !ok {
		return fallback
	}
	if a, ok := sb.Attributes[step.Name]; ok {
		return a.Expr.Range()
	}
	var blocks []*hclsyntax.Block
	for _, blk := range sb.Blocks {
		if blk.Type == step.Name {
			blocks = append(blocks, blk)
		}
	}
	if len(blocks) == 0 {
		return fallback
	}
	rest := path[1:]
	target := blocks[0]
	if len(rest) > 0 {
		if idx, ok := rest[0].(cty.IndexStep); ok {
			rest = rest[1:]
			switch idx.Key.Type() {
			case cty.Number:
				i, _ := idx.Key.AsBigFloat().Int64()
				if int(i) < len(blocks) {
					target = blocks[i]
				}
			case cty.String:
				for _, blk := range blocks {
					if len(blk.Labels) > 0 && blk.Labels[0] == idx.Key.AsString() {
						target = blk
					}
				}
			}
		}
	}
	return RangeOf(target.Body, rest, target.DefRange())
}

// Redact replaces values the user marked sensitive and attributes the
// schema declares sensitive with the string "(sensitive)".
func Redact(v cty.Value, schema *sdk.Block) cty.Value {
	plain, paths := spec.Unmark(v)
	if schema != nil {
		paths = append(paths, schema.SensitivePaths()...)
	}
	if len(paths) == 0 {
		return plain
	}
	out, err := cty.Transform(plain, func(p cty.Path, v cty.Value) (cty.Value, error) {
		for _, sp := range paths {
			if p.Equals(sp) && !v.IsNull() {
				// A literal the schema calls secret (api_key = "sk-...")
				// is as secret as one from env().
				spec.AddSecrets(v)
				return cty.StringVal("(sensitive)"), nil
			}
		}
		return v, nil
	})
	if err != nil {
		return cty.StringVal("(sensitive)")
	}
	return out
}
