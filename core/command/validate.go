package command

import (
	"context"
	"fmt"
)

func init() {
	register(cmd{name: "validate", synopsis: "check an experiment spec and its plugin config blocks", run: runValidate,
		usage: "validate [DIR] [flags]",
		help:  "Parses every .hcl file in DIR, decodes each plugin's config block against the\nschema the plugin declares, resolves references. Runs nothing else."})
}

func runValidate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("validate")
	sf := addSpecFlags(fs)
	dir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	p, mgr, err := prepare(ctx, env, sf, dir)
	if err != nil {
		return err
	}
	defer mgr.Close()
	// The seed files are read only here: plan and run leave it to the
	// generation, which reads them anyway.
	if diags := p.CheckSeedCoverage(); len(diags) > 0 {
		p.Exp.WriteDiagnostics(env.Stderr, diags, useColor(env.Stderr))
		if diags.HasErrors() {
			return exitError{1}
		}
	}
	fmt.Fprintf(env.Stdout, "The experiment %q is valid: %d teachers (%d controls), %d languages, %d strategies, %d metrics, %d students, %d units planned.\n",
		p.Exp.Name, len(p.Exp.Teachers), len(p.Exp.Controls), len(p.Exp.Languages), len(p.Exp.Strategies), len(p.Exp.Metrics), len(p.Exp.Students), len(p.Plan.Units))
	return nil
}
