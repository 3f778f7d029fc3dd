package command

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/export"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/core/strategy"
)

func init() {
	register(cmd{name: "export", synopsis: "write the generated examples as Hugging Face chat JSONL / Parquet with a dataset card", run: runExport,
		usage: "export [DIR] [flags]",
		help:  "Writes the examples of the experiment's current plan (results of an\nolder version of the spec are left out) as data.jsonl and/or data.parquet,\nwith a dataset card README.md, into the output folder."})
}

// listFlag collects comma-separated values from one or more flags.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func runExport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("export")
	sf := addSpecFlags(fs)
	format := fs.String("format", "both", "what to write: jsonl, parquet or both")
	out := fs.String("out", "", "output folder (default: <store>/export)")
	license := fs.String("license", "other", "Hugging Face licence id for the dataset card")
	licenseName := fs.String("license-name", "", "the card's license_name when --license is other (default "+export.DefaultLicenseName+")")
	licenseLink := fs.String("license-link", "", "the card's license_link when --license is other (default: a LICENSE.md written next to the card)")
	system := fs.String("system", "field", "the system prompt each teacher answered under: field (a `system` column), messages (also the first turn of messages) or none")
	partial := fs.Bool("partial", false, "export while a run is writing to the store; the dataset card is marked partial")
	composeName := fs.String("compose", "", "build the training set of the spec's dataset block NAME (rule, deduplication, decontamination, language filter, split) instead of exporting every row; default folder <store>/datasets/NAME")
	includeControls := fs.Bool("include-controls", false, "also export negative controls and their reference data (not training data), marked in a control column and in the card")
	var teachers, languages, strategies listFlag
	fs.Var(&teachers, "teacher", "export only these teachers (comma-separated or repeated)")
	fs.Var(&languages, "language", "export only these languages (comma-separated or repeated)")
	fs.Var(&strategies, "strategy", "export only these strategies (comma-separated or repeated)")
	expDir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	opts := export.Options{License: *license, LicenseName: *licenseName, LicenseLink: *licenseLink, SystemTurn: *system == "messages"}
	switch *format {
	case "jsonl", "parquet", "both":
	default:
		return usagef("--format must be jsonl, parquet or both, not %q", *format)
	}
	switch *system {
	case "field", "messages", "none":
	default:
		return usagef("--system must be field, messages or none, not %q", *system)
	}
	p, mgr, err := prepare(ctx, env, sf, expDir)
	if err != nil {
		return err
	}
	defer mgr.Close()
	if *composeName != "" {
		if len(teachers)+len(languages)+len(strategies) > 0 || *includeControls {
			return usagef("--compose takes its teachers, languages and strategies from the dataset block; drop --teacher, --language, --strategy and --include-controls")
		}
		return runCompose(ctx, env, p, *composeName, *out, *format, *partial)
	}
	units, err := exportUnits(p.Plan, teachers, languages, strategies)
	if err != nil {
		return err
	}
	st, done, writing, err := openStoreToExport(env, p, "export", *partial)
	if err != nil {
		return err
	}
	defer done()
	opts.Partial = writing

	dir := *out
	if dir == "" {
		dir = filepath.Join(p.Exp.Store, "export")
	}
	if *format != "parquet" {
		opts.JSONL = filepath.Join(dir, "data.jsonl")
	}
	if *format != "jsonl" {
		opts.Parquet = filepath.Join(dir, "data.parquet")
	}
	opts.Card = filepath.Join(dir, "README.md")
	opts.MetricsFile = filepath.Join(dir, "metrics.csv")
	opts.LicenseFile = filepath.Join(dir, "LICENSE.md")
	if *system != "none" {
		if opts.System, err = systemPrompts(p.Exp, units); err != nil {
			return err
		}
	}
	opts.Controls, opts.IncludeControls = p.ControlRoles(), *includeControls
	opts.Name = p.Exp.Name
	opts.Description = fmt.Sprintf("Generated with polyglot from the experiment %q.", p.Exp.Name)
	if opts.Metrics, err = currentAggregates(st, p.Plan, units); err != nil {
		return err
	}
	res, err := export.Export(unitSource{st: st, units: units}, opts)
	if err != nil {
		return err
	}
	if len(res.LeftOut) > 0 {
		n := 0
		for _, c := range res.LeftOut {
			n += c
		}
		env.Log.Info().Int("examples", n).Msg("negative controls and their reference data were left out (not training data); --include-controls exports them, marked")
	}
	if res.Examples == 0 && len(res.LeftOut) == 0 {
		env.Log.Warn().Msg("no examples to export yet: run `polyglot run` first, or check the --teacher/--language/--strategy filters")
	}
	fmt.Fprintf(env.Stdout, "Exported %d examples (%d teachers, %d languages, %d strategies):\n", res.Examples, len(res.Teachers), len(res.Languages), len(res.Strategies))
	for _, f := range res.Files {
		fmt.Fprintf(env.Stdout, "  %s\n", f)
	}
	return nil
}

// systemPrompts renders, per language and strategy of the exported units,
// the system prompt of the step whose answer a strategy emits. A template
// that uses more than the language's placeholders differs per request and
// is left out: those rows get no system field.
func systemPrompts(exp *spec.Experiment, units []*plan.Unit) (func(*store.Example) string, error) {
	strategies := map[string]*spec.Strategy{}
	for _, s := range exp.Strategies {
		strategies[s.Name] = s
	}
	texts := map[[2]string]string{}
	for _, u := range units {
		k := [2]string{u.Language, u.Strategy}
		s, ok := strategies[u.Strategy]
		if _, seen := texts[k]; seen || !ok {
			continue
		}
		lang, err := strategy.ResolveLanguage(u.Language)
		if err != nil {
			return nil, err
		}
		text, _, err := strategy.SystemPrompt(s, lang)
		if err != nil {
			return nil, err
		}
		texts[k] = text
	}
	return func(e *store.Example) string { return texts[[2]string{e.Language, e.Strategy}] }, nil
}

// exportUnits returns the plan's generate units that pass the filters,
// sorted as the store orders examples, so that reading them one after the
// other gives the same order as one query over the whole store. A filter
// value that matches no unit is an error: a typo must not give an empty
// dataset silently.
func exportUnits(p *plan.Plan, teachers, languages, strategies []string) ([]*plan.Unit, error) {
	gen := p.Of(plan.Generate)
	known := func(field func(*plan.Unit) string, want []string, what string) error {
		have := map[string]bool{}
		for _, u := range gen {
			have[field(u)] = true
		}
		for _, w := range want {
			if !have[w] {
				names := make([]string, 0, len(have))
				for n := range have {
					names = append(names, n)
				}
				sort.Strings(names)
				return fmt.Errorf("--%s %q is not in the plan; it has: %s", what, w, strings.Join(names, ", "))
			}
		}
		return nil
	}
	if err := known(func(u *plan.Unit) string { return u.Teacher }, teachers, "teacher"); err != nil {
		return nil, err
	}
	if err := known(func(u *plan.Unit) string { return u.Language }, languages, "language"); err != nil {
		return nil, err
	}
	if err := known(func(u *plan.Unit) string { return u.Strategy }, strategies, "strategy"); err != nil {
		return nil, err
	}
	in := func(v string, set []string) bool {
		if len(set) == 0 {
			return true
		}
		for _, s := range set {
			if s == v {
				return true
			}
		}
		return false
	}
	var out []*plan.Unit
	for _, u := range gen {
		if in(u.Teacher, teachers) && in(u.Language, languages) && in(u.Strategy, strategies) {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Teacher != b.Teacher:
			return a.Teacher < b.Teacher
		case a.Language != b.Language:
			return a.Language < b.Language
		case a.Strategy != b.Strategy:
			return a.Strategy < b.Strategy
		case a.Seed != b.Seed:
			return a.Seed < b.Seed
		}
		return a.Key < b.Key
	})
	return out, nil
}

// unitSource reads the examples of the given units only, unit by unit:
// a store keeps the results of every version of the spec, and only the
// current plan's belong in the dataset.
type unitSource struct {
	st    *store.Store
	units []*plan.Unit
}

func (s unitSource) Examples(f store.Filter, fn func(*store.Example) error) error {
	stop := false
	for _, u := range s.units {
		f.Unit = u.Key
		err := s.st.Examples(f, func(e *store.Example) error {
			if err := fn(e); err != nil {
				if errors.Is(err, store.ErrStop) {
					stop = true
				}
				return err
			}
			return nil
		})
		if err != nil || stop {
			return err
		}
	}
	return nil
}

// currentAggregates returns the metric values of the exported cells whose
// metric unit of the current plan is done, so that values computed on an
// older version of the data are not shown next to the new data.
func currentAggregates(st *store.Store, p *plan.Plan, units []*plan.Unit) ([]store.MetricAggregate, error) {
	cells := map[string]bool{}
	for _, u := range units {
		cells[u.Teacher+"\x00"+u.Language] = true
	}
	type mkey struct {
		metric, teacher, language string
		seed                      int64
	}
	done := map[mkey]bool{}
	for _, u := range p.Of(plan.Metrics) {
		if !cells[u.Teacher+"\x00"+u.Language] {
			continue
		}
		su, ok, err := st.Unit(u.Key)
		if err != nil {
			return nil, err
		}
		if ok && su.State == store.Done {
			done[mkey{u.Metric, u.Teacher, u.Language, u.Seed}] = true
		}
	}
	if len(done) == 0 {
		return nil, nil
	}
	all, err := st.MetricAggregates()
	if err != nil {
		return nil, err
	}
	var out []store.MetricAggregate
	for _, a := range all {
		base, _, _ := strings.Cut(a.Metric, ".") // "diversity.prompt" belongs to metric "diversity"
		if done[mkey{a.Metric, a.Teacher, a.Language, int64(a.Seed)}] || done[mkey{base, a.Teacher, a.Language, int64(a.Seed)}] {
			a.Detail = nil // per-example values are for the bootstrap, not the card
			out = append(out, a)
		}
	}
	return out, nil
}

// openStoreToExport opens the store read-only under its shared lock, which
// keeps a run from starting meanwhile. A run still writing would give a
// dataset that silently lacks its newest rows: that is refused unless the
// user asks for partial, and then writing is true so that the caller marks
// what it writes as partial.
func openStoreToExport(env *Env, p *engine.Prepared, verb string, partial bool) (st *store.Store, done func(), writing bool, err error) {
	release, err := store.ReadLock(p.Exp.Store)
	switch {
	case errors.Is(err, store.ErrLocked) && partial:
		writing, release = true, func() {}
		env.Log.Warn().Msgf("a run is writing to the store: this %s is partial, and its dataset card says so", verb)
	case errors.Is(err, store.ErrLocked):
		return nil, nil, false, fmt.Errorf("a run is still writing to this experiment's store (%v); %s when it has finished, or pass --partial to use what is there now, marked as partial", err, verb)
	case err != nil:
		return nil, nil, false, err
	}
	st, err = store.OpenReadOnly(p.Exp.Store)
	if err != nil {
		release()
		return nil, nil, false, fmt.Errorf("%w (has the experiment run? `polyglot run`)", err)
	}
	return st, func() { st.Close(); release() }, writing, nil
}
