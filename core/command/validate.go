package command

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	register(cmd{name: "validate", synopsis: "check an experiment spec and its plugin config blocks", run: runValidate})
}

func runValidate(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	sf := addSpecFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "Usage: polyglot validate [flags] [DIR]\n\nParses every .hcl file in DIR, decodes each plugin's config block against the\nschema the plugin declares, resolves references. Runs nothing else.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, mgr, err := prepare(ctx, env, sf, dirArg(fs))
	if err != nil {
		return err
	}
	defer mgr.Close()
	fmt.Fprintf(env.Stdout, "The experiment %q is valid: %d teachers (%d controls), %d languages, %d strategies, %d metrics, %d students, %d units planned.\n",
		p.Exp.Name, len(p.Exp.Teachers), len(p.Exp.Controls), len(p.Exp.Languages), len(p.Exp.Strategies), len(p.Exp.Metrics), len(p.Exp.Students), len(p.Plan.Units))
	return nil
}
