package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
)

func init() {
	register(cmd{name: "status", synopsis: "show where a run stands (also while it runs)", run: runStatus,
		usage: "status [DIR] [flags]",
		help:  "Shows the units of each stage by state and, per teacher, language,\nstrategy and seed, the examples, failures, tokens and cost so far. Reads\nthe store read-only: it works while a run is going."})
}

// openStoreOf loads just enough of the spec to find its store.
func openStoreOf(env *Env, sf *specFlags, dir string) (*spec.Experiment, *store.Store, error) {
	exp, diags := spec.LoadDir(dir, spec.LoadOptions{Vars: sf.vars, AllowRead: sf.allowRead})
	if diags.HasErrors() {
		exp.WriteDiagnostics(env.Stderr, diags, useColor(env.Stderr))
		return nil, nil, exitError{1}
	}
	if _, err := os.Stat(exp.Store); errors.Is(err, os.ErrNotExist) {
		return exp, nil, fmt.Errorf("no store at %s yet: nothing has run (start with `polyglot run %s`)", exp.Store, dir)
	}
	st, err := store.OpenReadOnly(exp.Store)
	return exp, st, err
}

// statusOutput is `polyglot status --json`.
type statusOutput struct {
	FormatVersion int            `json:"format_version"`
	Experiment    string         `json:"experiment"`
	Store         string         `json:"store"`
	Summary       *store.Summary `json:"summary"`
}

func runStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("status")
	sf := addSpecFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	dir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	exp, st, err := openStoreOf(env, sf, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	sum, err := st.Summary()
	if err != nil {
		return err
	}
	if *asJSON {
		if sum.Stages == nil {
			sum.Stages = []store.StageCount{}
		}
		if sum.Cells == nil {
			sum.Cells = []store.CellSummary{}
		}
		return writeJSON(env.Stdout, statusOutput{jsonFormatVersion, exp.Name, exp.Store, sum})
	}
	fmt.Fprintf(env.Stdout, "Experiment %q (store %s)\n\n", exp.Name, exp.Store)
	tw := tabwriter.NewWriter(env.Stdout, 0, 2, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STAGE\tPENDING\tRUNNING\tDONE\tFAILED\t")
	for _, s := range sum.Stages {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", s.Stage, s.Pending, s.Running, s.Done, s.Failed)
	}
	tw.Flush()
	fmt.Fprintln(env.Stdout)
	tw = tabwriter.NewWriter(env.Stdout, 0, 2, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TEACHER\tLANGUAGE\tSTRATEGY\tSEED\tEXAMPLES\tFAILED\tRETRYING\tTOKENS IN\tTOKENS OUT\tCOST\tSAVED BY CACHE\t")
	for _, c := range sum.Cells {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t$%.4f\t$%.4f\t\n", c.Teacher, c.Language, c.Strategy, c.Seed, c.Examples, c.Failures, c.Retrying, c.InputTokens, c.OutputTokens, c.CostUSD, c.SavedUSD)
	}
	t := sum.Total
	fmt.Fprintf(tw, "total\t\t\t\t%d\t%d\t%d\t%d\t%d\t$%.4f\t$%.4f\t\n", t.Examples, t.Failures, t.Retrying, t.InputTokens, t.OutputTokens, t.CostUSD, t.SavedUSD)
	return tw.Flush()
}
