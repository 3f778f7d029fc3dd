package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/core/bind"
	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/core/executor/local"
	"github.com/polyglot-teachers/polyglot/core/executor/slurm"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/report"
	"github.com/polyglot-teachers/polyglot/core/servers"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// ServersDir is where a store keeps its model servers' folders and logs.
func ServersDir(storeDir string) string { return filepath.Join(storeDir, "servers") }

// ServersOf lists the servers unit u needs: those its teacher's, its step
// teachers', its metric's and its judge's configs refer to
// (server.NAME.url).
func ServersOf(p *Prepared, u *plan.Unit) []string {
	if len(p.Exp.Servers) == 0 || p.Bound == nil {
		return nil
	}
	names := make([]string, len(p.Exp.Servers))
	for i, s := range p.Exp.Servers {
		names[i] = s.Name
	}
	var comps []*bind.Component
	teacher := func(name string) {
		if c := p.Bound.Teachers[name]; c != nil {
			comps = append(comps, c)
		}
	}
	switch u.Stage {
	case plan.Generate:
		teacher(u.Teacher)
		if st := p.Exp.Strategy(u.Strategy); st != nil {
			for _, step := range st.Steps {
				if step.Teacher != "" && step.Teacher != "self" {
					teacher(step.Teacher)
				}
			}
		}
	case plan.Metrics:
		if c := p.Bound.Metrics[u.Metric]; c != nil {
			comps = append(comps, c)
			for _, ref := range bind.TeacherRefs(c) {
				teacher(ref.Teacher)
			}
		}
		if u.JudgeTeacher != "" {
			teacher(u.JudgeTeacher)
		}
	}
	set := map[string]bool{}
	for _, c := range comps {
		for _, n := range servers.Uses(c.Redacted, names) {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// startServers makes the run's server manager, points every bound config
// at the servers' proxies, and tells the manager how many units will need
// each server. The returned function undoes the config change and stops
// the servers (or leaves them up with KeepServers).
func (r *Runner) startServers() (func(), error) {
	p := r.P
	if len(p.Exp.Servers) == 0 {
		return func() {}, nil
	}
	loc, sl := local.New(), slurm.New()
	sl.Log = r.log
	m, err := servers.New(p.Exp.Servers, servers.Options{
		Dir: ServersDir(r.Store.Dir()), Max: r.Opts.MaxServers, Keep: r.Opts.KeepServers, Log: r.log,
		Executor: func(kind string) executor.Executor {
			switch kind {
			case "local":
				return loc
			case "slurm":
				return sl
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	r.servers, r.needs = m, map[string][]string{}
	expect := map[string]int{}
	most, mostUnit := 0, ""
	for _, u := range p.Plan.Units {
		if !r.Opts.Match(u) {
			continue
		}
		if su, ok, err := r.Store.Unit(u.Key); err == nil && ok && su.State == store.Done {
			continue
		}
		need := ServersOf(p, u)
		if len(need) == 0 {
			continue
		}
		r.needs[u.Key] = need
		for _, n := range need {
			expect[n]++
		}
		if len(need) > most {
			most, mostUnit = len(need), u.Label
		}
	}
	if max := r.Opts.MaxServers; max > 0 && most > max {
		m.Close(context.Background())
		return nil, fmt.Errorf("unit %s needs %d servers at once (%s) but --max-servers is %d: raise it to at least %d", mostUnit, most, strings.Join(ServersOf(p, p.Plan.Unit(unitKeyOf(p, mostUnit))), ", "), max, most)
	}
	for _, n := range m.Names() {
		m.Expect(n, expect[n])
	}
	type saved struct {
		c   *bind.Component
		old cty.Value
	}
	var restore []saved
	for _, set := range []map[string]*bind.Component{p.Bound.Teachers, p.Bound.Metrics} {
		for _, c := range set {
			restore = append(restore, saved{c, c.Config})
			c.Config = m.Rewrite(c.Config)
		}
	}
	return func() {
		if err := m.Close(context.Background()); err != nil {
			r.log.Error().Err(err).Msg("stopping the model servers")
		}
		for _, s := range restore {
			s.c.Config = s.old
		}
	}, nil
}

func unitKeyOf(p *Prepared, label string) string {
	for _, u := range p.Plan.Units {
		if u.Label == label {
			return u.Key
		}
	}
	return ""
}

// acquireServers starts (or joins) the servers u needs and returns the
// function that releases them. A server that cannot start fails the unit.
func (r *Runner) acquireServers(ctx context.Context, u *plan.Unit) (func(), error) {
	need := r.needs[u.Key]
	if r.servers == nil || len(need) == 0 {
		return func() {}, nil
	}
	var held []string
	release := func() {
		for _, n := range held {
			r.servers.Release(n)
		}
	}
	for i, n := range need {
		if err := r.servers.Acquire(ctx, n); err != nil {
			release()
			for _, rest := range need[i:] {
				r.servers.Done(rest)
			}
			if errors.Is(err, context.Canceled) {
				return nil, err
			}
			return nil, fmt.Errorf("model server %q: %w", n, err)
		}
		held = append(held, n)
	}
	return release, nil
}

// skipServers tells the manager that u will not run, so that a server no
// other unit needs stops.
func (r *Runner) skipServers(u *plan.Unit) {
	if r.servers == nil {
		return
	}
	for _, n := range r.needs[u.Key] {
		r.servers.Done(n)
	}
}

// ServerPlan is what `plan` shows of a server.
type ServerPlan struct {
	Name     string
	Engine   string
	Model    string
	Where    string // "local" or "slurm partition P"
	GPUs     int
	Units    []string // labels of the units that need it
	Stages   []string // the stages those units belong to: the server is held from the first to the last
	Estimate string   // the spec's hold_estimate, or the time limit, or ""
	GPUHours float64  // GPUs x hold estimate, when known
}

// PlanServers lists the servers of p with the units that hold them.
func PlanServers(p *Prepared) []ServerPlan {
	var out []ServerPlan
	for _, s := range p.Exp.Servers {
		sp := ServerPlan{Name: s.Name, Engine: s.Engine, Model: s.Model, Where: s.Executor.Kind, GPUs: servers.GPUs(s)}
		if s.Executor.Kind == "slurm" {
			sp.Where = "slurm partition " + s.Executor.Partition
		}
		seen := map[plan.Stage]bool{}
		for _, u := range p.Plan.Units {
			for _, n := range ServersOf(p, u) {
				if n == s.Name {
					sp.Units = append(sp.Units, u.Label)
					seen[u.Stage] = true
				}
			}
		}
		for _, st := range plan.Stages {
			if seen[st] {
				sp.Stages = append(sp.Stages, string(st))
			}
		}
		hold := s.HoldEstimate
		switch {
		case hold > 0:
			sp.Estimate = hold.String()
		case s.Executor.TimeLimit > 0:
			hold = s.Executor.TimeLimit
			sp.Estimate = "at most " + hold.String() + " (time limit)"
		}
		sp.GPUHours = hold.Hours() * float64(sp.GPUs)
		out = append(out, sp)
	}
	return out
}

// serverCosts sums the GPU time each server of the experiment held, over
// every folder (spec version) it ran from.
func serverCosts(p *Prepared, st *store.Store) []report.ServerCost {
	byName := map[string]*report.ServerCost{}
	var out []report.ServerCost
	for _, r := range servers.Records(ServersDir(st.Dir())) {
		sp := p.Exp.Server(r.Name)
		if sp == nil {
			continue
		}
		c := byName[r.Name]
		if c == nil {
			c = &report.ServerCost{Server: sp.Name, Engine: sp.Engine, Model: sp.Model, Executor: sp.Executor.Kind, GPUs: servers.GPUs(sp)}
			byName[r.Name] = c
		}
		c.HeldHours += r.HeldHours
		c.GPUHours += r.GPUHours
	}
	for _, s := range p.Exp.Servers {
		if c := byName[s.Name]; c != nil {
			out = append(out, *c)
		}
	}
	return out
}
