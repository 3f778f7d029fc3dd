// Package engine runs an experiment: it prepares it (load the spec, bind
// plugins, expand the plan) and executes the plan's units stage by stage
// against the store, so that a killed run resumes where it stopped.
package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/core/bind"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/pluginhost"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// ControlPlugin is the built-in teacher plugin negative controls run on.
const ControlPlugin = "dataset"

// Prepared is an experiment ready to plan or run.
type Prepared struct {
	Exp      *spec.Experiment
	Bound    *bind.Bound
	Teachers []plan.TeacherRef
	Plan     *plan.Plan
	Plugins  *pluginhost.Manager
}

// Prepare loads the spec in dir, binds every plugin block (starting the
// plugins, decoding their config blocks against their schemas) and builds
// the plan. It has no side effects beyond starting plugin processes.
func Prepare(ctx context.Context, dir string, opts spec.LoadOptions, mgr *pluginhost.Manager) (*Prepared, hcl.Diagnostics) {
	var exp *spec.Experiment
	var diags hcl.Diagnostics
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		exp, diags = spec.LoadFiles([]string{dir}, opts) // a single spec file
	} else {
		exp, diags = spec.LoadDir(dir, opts)
	}
	if diags.HasErrors() {
		return &Prepared{Exp: exp}, diags
	}
	mgr.WorkDir = exp.Dir
	if mgr.Constraints == nil {
		mgr.Constraints = map[string]string{}
	}
	for _, rp := range exp.RequiredPlugins {
		mgr.Constraints[rp.Name] = rp.Version
		if rp.ReplacesBuiltin {
			if mgr.ReplaceBuiltins == nil {
				mgr.ReplaceBuiltins = map[string]bool{}
			}
			mgr.ReplaceBuiltins[rp.Name] = true
		}
	}
	// Start every plugin the spec names at once rather than as binding
	// reaches it; binding then finds them running.
	plugins := started{mgr, mgr.StartAll(ctx, specPlugins(exp))}
	bound, bd := bind.Bind(ctx, exp, plugins)
	diags = append(diags, bd...)
	teachers, cd := controlTeachers(ctx, exp, bound, plugins)
	diags = append(diags, cd...)
	p := &Prepared{Exp: exp, Bound: bound, Teachers: teachers, Plugins: mgr}
	if diags.HasErrors() {
		return p, diags
	}
	pl, err := plan.Build(exp, teachers, bound)
	if err != nil {
		return p, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot plan the experiment", Detail: err.Error(), Subject: &exp.DeclRange})
	}
	p.Plan = pl
	return p, diags
}

// specPlugins names the plugins an experiment's blocks run on, in spec order.
func specPlugins(exp *spec.Experiment) []string {
	var names []string
	for _, t := range exp.Teachers {
		names = append(names, t.Plugin)
	}
	for _, m := range exp.Metrics {
		names = append(names, m.Plugin)
	}
	for _, s := range exp.Students {
		names = append(names, s.Trainer)
	}
	if len(exp.Controls) > 0 {
		names = append(names, ControlPlugin)
	}
	return names
}

// started answers Get from the starts StartAll made, so a plugin that
// failed to start is reported, not started again, for each block naming it.
type started struct {
	mgr  *pluginhost.Manager
	errs map[string]error
}

func (s started) Get(ctx context.Context, name string) (*pluginhost.Running, error) {
	if err := s.errs[name]; err != nil {
		return nil, err
	}
	return s.mgr.Get(ctx, name)
}

// controlTeachers lists the spec's teachers followed by one teacher per
// negative control, bound to the dataset plugin with the control's
// corruption.
func controlTeachers(ctx context.Context, exp *spec.Experiment, bound *bind.Bound, mgr bind.Resolver) ([]plan.TeacherRef, hcl.Diagnostics) {
	var out []plan.TeacherRef
	var diags hcl.Diagnostics
	for _, t := range exp.Teachers {
		out = append(out, plan.TeacherRef{Name: t.Name, Spec: t, Bound: bound.Teachers[t.Name], Helper: !t.Generate})
	}
	for _, c := range exp.Controls {
		rng := c.DeclRange
		var set *spec.SeedSet
		for _, s := range exp.SeedSets {
			if s.Name == c.Seeds {
				set = s
			}
		}
		if set == nil {
			continue // the spec already reported it
		}
		if set.Format != "jsonl" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Control needs JSONL seeds", Detail: fmt.Sprintf("Negative controls replay seed rows with the %q plugin, which reads JSONL with id, language, prompt and response fields; seeds %q is %s. Convert it to JSONL or point the control at another seeds block.", ControlPlugin, set.Name, set.Format), Subject: &rng})
			continue
		}
		run, err := mgr.Get(ctx, ControlPlugin)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Negative controls unavailable", Detail: err.Error(), Subject: &rng})
			continue
		}
		info, ok := run.Info.Component(sdk.KindTeacher, ControlPlugin)
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Negative controls unavailable", Detail: fmt.Sprintf("plugin %q has no teacher component %q", ControlPlugin, ControlPlugin), Subject: &rng})
			continue
		}
		cfg := cty.ObjectVal(map[string]cty.Value{
			"path":       cty.StringVal(filepath.Join(exp.Dir, set.Path)),
			"corruption": cty.StringVal(c.Kind),
			"fraction":   cty.NumberFloatVal(c.Fraction),
			"seed":       cty.NumberIntVal(1),
		})
		comp := &bind.Component{Kind: sdk.KindTeacher, Address: "control." + c.Name, Plugin: ControlPlugin, Name: ControlPlugin, Version: run.Info.Version, Running: run, Info: info, Config: cfg, Redacted: cfg}
		bound.Teachers[c.Name] = comp
		out = append(out, plan.TeacherRef{Name: c.Name, Control: true, Bound: comp, Extra: map[string]any{"kind": c.Kind, "seeds": c.Seeds, "fraction": c.Fraction}})
	}
	return out, diags
}

// CellTeachers are the teachers that generate data (and are ranked): every
// teacher but the helpers (generate = false), then the controls.
func (p *Prepared) CellTeachers() []plan.TeacherRef {
	var out []plan.TeacherRef
	for _, t := range p.Teachers {
		if !t.Helper {
			out = append(out, t)
		}
	}
	return out
}
