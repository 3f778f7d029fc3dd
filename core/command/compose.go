package command

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/polyglot-teachers/polyglot/core/compose"
	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/seeds"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// composition is a dataset block's plan against the scored store.
type composition struct {
	d     *spec.Dataset
	plans []compose.LanguagePlan
	study *score.Study
	res   *score.Result
	units []*plan.Unit
}

// dataset finds a dataset block by name.
func dataset(exp *spec.Experiment, name string) (*spec.Dataset, error) {
	if d := exp.Dataset(name); d != nil {
		return d, nil
	}
	var names []string
	for _, d := range exp.Datasets {
		names = append(names, d.Name)
	}
	if len(names) == 0 {
		return nil, usagef("--compose %q: the spec has no dataset block; add one, e.g. dataset %q { rule = \"best\" } (docs/spec.md#dataset)", name, name)
	}
	return nil, usagef("--compose %q: no dataset block of that name; the spec has: %s", name, strings.Join(names, ", "))
}

// planComposition scores the store and applies the dataset's rule.
func planComposition(p *engine.Prepared, st *store.Store, d *spec.Dataset) (*composition, error) {
	study, err := p.Study(st, 0)
	if err != nil {
		return nil, err
	}
	if len(study.Metrics) == 0 && len(study.Benchmarks) == 0 {
		return nil, fmt.Errorf("the store has no metric or benchmark results to rank teachers by; run `polyglot run` first")
	}
	res, err := score.Compute(study, p.Settings())
	if err != nil {
		return nil, err
	}
	c := &composition{d: d, study: study, res: res}
	c.plans = compose.Select(d, res, p.Exp.Languages, p.ControlRoles())
	if c.units, err = exportUnits(p.Plan, nil, nil, nil); err != nil {
		return nil, err
	}
	sum, err := st.Summary()
	if err != nil {
		return nil, err
	}
	seedsOK := map[int]bool{}
	for _, s := range p.Exp.RandomSeeds {
		seedsOK[int(s)] = true
	}
	avail := compose.Available{}
	for _, cs := range sum.Cells {
		if seedsOK[cs.Seed] {
			avail[[3]string{cs.Teacher, cs.Language, cs.Strategy}] += cs.Examples
		}
	}
	size, tokens := d.Rows, false
	if d.Tokens > 0 {
		size, tokens = d.Tokens, true
	}
	compose.Plan(c.plans, avail, d.StrategyMix, size, tokens)
	return c, nil
}

// printComposition is `plan --compose`: the picks and expected rows per
// language, before anything is written.
func printComposition(w io.Writer, c *composition) {
	fmt.Fprintf(w, "Dataset %q (rule %s): expected rows per language before deduplication, decontamination and the language filter\n\n", c.d.Name, c.d.Rule)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "language\tteacher\tstrategy\tPG\tweight\tavailable\tquota\texpected\t")
	total := 0
	for _, lp := range c.plans {
		if len(lp.Picks) == 0 {
			fmt.Fprintf(tw, "%s\t-\t\t\t\t\t\t0\t\n", lp.Language)
			continue
		}
		for _, s := range lp.Slots {
			pk := lp.Picks[s.Pick]
			pg := "-"
			if pk.Scored {
				pg = fmt.Sprintf("%.3f", pk.PG)
			}
			quota := "all"
			if s.Quota > 0 {
				quota = fmt.Sprint(s.Quota)
			}
			exp := min(s.Available, s.Quota)
			if s.Quota == 0 || c.d.Tokens > 0 {
				exp = s.Available
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f\t%d\t%s\t%d\t\n", lp.Language, pk.Teacher, cmpOrStr(s.Strategy, "all"), pg, s.Weight, s.Available, quota, exp)
		}
		fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t%d\t\n", lp.Language+" total", lp.Expected)
		total += lp.Expected
	}
	fmt.Fprintf(tw, "all\t\t\t\t\t\t\t%d\t\n", total)
	tw.Flush()
	if c.d.Tokens > 0 {
		fmt.Fprintln(w, "\nQuotas are in tokens; expected rows are the rows available.")
	}
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// runCompose is `export --compose NAME`.
func runCompose(ctx context.Context, env *Env, p *engine.Prepared, name, out, format string, partial bool) error {
	d, err := dataset(p.Exp, name)
	if err != nil {
		return err
	}
	st, done, writing, err := openStoreToExport(env, p, "composition", partial)
	if err != nil {
		return err
	}
	defer done()
	c, err := planComposition(p, st, d)
	if err != nil {
		return err
	}
	opts := compose.Options{Dataset: d, Plans: c.plans, Source: st, Study: c.study, JSONL: format != "parquet", Parquet: format != "jsonl",
		Card: compose.CardInfo{Name: p.Exp.Name + " / " + d.Name, Confidence: c.res.Settings.Confidence, Partial: writing,
			Description: fmt.Sprintf("Composed with polyglot from the experiment %q by its dataset %q.", p.Exp.Name, d.Name)}}
	opts.Units = map[string]bool{}
	for _, u := range c.units {
		opts.Units[u.Key] = true
	}
	for _, s := range p.Exp.RandomSeeds {
		opts.Seeds = append(opts.Seeds, int(s))
	}
	if d.Langid != "off" {
		opts.LangidMetric = d.LangidMetric
		if opts.LangidMetric == "" {
			for _, m := range p.Exp.Metrics {
				if m.Plugin == "langid" {
					opts.LangidMetric = m.Name
					break
				}
			}
		}
		if opts.LangidMetric == "" {
			env.Log.Warn().Msg("the dataset filters by language but the experiment has no langid metric; no row is filtered by language")
		}
	}
	if d.System != "none" {
		sys, err := systemPrompts(p.Exp, c.units)
		if err != nil {
			return err
		}
		opts.System = func(lang, strategy string) string { return sys(&store.Example{Language: lang, Strategy: strategy}) }
	}
	if d.Dedup.Seeds && len(p.Exp.SeedSets) > 0 {
		ix, err := seeds.NewIndex(p.Exp.SeedSets)
		if err != nil {
			return err
		}
		defer ix.Close()
		opts.SeedRows = func(lang string, fn func(compose.SeedRow) error) error {
			return ix.Each(func(c *seeds.Class) bool { return c.Language == lang }, func(r seeds.Row) error {
				return fn(compose.SeedRow{ID: r.ID, Prompt: r.Prompt, Response: r.Response})
			})
		}
	}
	opts.Out = out
	if opts.Out == "" {
		opts.Out = filepath.Join(p.Exp.Store, "datasets", d.Name)
	}
	res, err := compose.Run(opts)
	if err != nil {
		return err
	}
	dropped := 0
	for _, l := range res.Languages {
		for _, n := range l.Dropped {
			dropped += n
		}
	}
	fmt.Fprintf(env.Stdout, "Composed %d examples in %d languages (%d rows dropped; see dropped.csv):\n", res.Rows, len(res.Languages), dropped)
	for _, f := range res.Files {
		fmt.Fprintf(env.Stdout, "  %s\n", f)
	}
	return nil
}

// planCompose is `plan --compose NAME`.
func planCompose(env *Env, p *engine.Prepared, name string, asJSON bool) error {
	d, err := dataset(p.Exp, name)
	if err != nil {
		return err
	}
	st, err := store.OpenReadOnly(p.Exp.Store)
	if err != nil {
		return fmt.Errorf("%w (composition needs a scored study: `polyglot run` first)", err)
	}
	defer st.Close()
	c, err := planComposition(p, st, d)
	if err != nil {
		return err
	}
	if asJSON {
		type slot struct {
			Teacher   string  `json:"teacher"`
			Strategy  string  `json:"strategy,omitempty"`
			PG        float64 `json:"pg"`
			Weight    float64 `json:"weight"`
			Available int     `json:"available"`
			Quota     int     `json:"quota"`
		}
		type lang struct {
			Language string `json:"language"`
			Expected int    `json:"expected"`
			Slots    []slot `json:"slots"`
			Note     string `json:"note,omitempty"`
		}
		var out []lang
		for _, lp := range c.plans {
			l := lang{Language: lp.Language, Expected: lp.Expected, Note: lp.Note, Slots: []slot{}}
			for _, s := range lp.Slots {
				pk := lp.Picks[s.Pick]
				l.Slots = append(l.Slots, slot{pk.Teacher, s.Strategy, pk.PG, s.Weight, s.Available, s.Quota})
			}
			out = append(out, l)
		}
		return writeJSON(env.Stdout, map[string]any{"format_version": jsonFormatVersion, "dataset": d.Name, "rule": d.Rule, "languages": out})
	}
	printComposition(env.Stdout, c)
	return nil
}
