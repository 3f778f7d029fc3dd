package command

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/polyglot-teachers/polyglot/core/analysis"
	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/report"
	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/store"
)

func init() {
	register(cmd{name: "report", synopsis: "score what a run produced and write the HTML report", run: runReport,
		usage: "report [DIR] [flags]",
		help:  "Scores what the store holds for the current plan and writes report.html\n(and its data files) without running anything."})
	register(cmd{name: "score", synopsis: "score imported results (--import FILE) without running anything", run: runScore,
		usage: "score --import FILE [flags]",
		help:  "Scores results produced elsewhere (schema: core/score/IMPORT.md) and\nwrites the HTML report. Needs no spec."})
}

func runReport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("report")
	sf := addSpecFlags(fs)
	out := fs.String("out", "", "report folder (default: the store's report folder)")
	expDir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	p, mgr, err := prepare(ctx, env, sf, expDir)
	if err != nil {
		return err
	}
	defer mgr.Close()
	st, err := store.OpenReadOnly(p.Exp.Store)
	if err != nil {
		return fmt.Errorf("%w (has the experiment run? `polyglot run`)", err)
	}
	defer st.Close()
	dir := *out
	if dir == "" {
		dir = engine.ReportDir(p.Exp.Store)
	}
	if _, err := engine.WriteReport(p, st, dir); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Report: %s\n", filepath.Join(dir, "report.html"))
	return nil
}

func runScore(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("score")
	imp := fs.String("import", "", "results to score: JSONL or CSV (schema: core/score/IMPORT.md)")
	out := fs.String("out", "report", "report folder")
	alpha := fs.Float64("alpha", 0.5, "weight of the intrinsic part (0..1)")
	pgr := fs.String("pgr", score.RatioThenMean, "PGR variant: "+score.RatioThenMean+" or "+score.MeanThenRatio)
	std := fs.String("standardize", score.Published, "PG variant: "+score.Published+" or restandardized")
	boot := fs.Int("bootstrap", 1000, "bootstrap resamples (0: off)")
	title := fs.String("title", "Imported results", "report title")
	pca := fs.String("pca", analysis.PCAScored, "PCA features: "+analysis.PCAScored+" (the scored metrics) or "+analysis.PCAStudy+" (the study's six, raw)")
	comps := fs.Int("components", 0, "principal components in the regressions (0: the fewest explaining 90 % of the variance)")
	folds := fs.Int("folds", 5, "folds of the held-out regression")
	minEx := fs.Int("min-examples", score.DefaultSettings().MinExamples, "cells that kept fewer generated examples are not ranked (needs generation records)")
	minShare := fs.Float64("min-example-share", score.DefaultSettings().MinExampleShare, "cells that kept less than this share of their requests are not ranked")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if *imp == "" {
		return usagef("--import FILE is required")
	}
	if *pca != analysis.PCAScored && *pca != analysis.PCAStudy {
		return usagef("--pca %q: use %s or %s", *pca, analysis.PCAScored, analysis.PCAStudy)
	}
	if *comps < 0 || *folds < 2 {
		return usagef("--components must be >= 0 and --folds >= 2")
	}
	study, err := score.ImportFile(*imp)
	if err != nil {
		return err
	}
	set := score.DefaultSettings()
	set.Alpha, set.PGR, set.Standardize, set.Bootstrap = *alpha, *pgr, *std, *boot
	set.MinExamples, set.MinExampleShare = *minEx, *minShare
	if err := set.Validate(); err != nil {
		return err
	}
	res, err := score.Compute(study, set)
	if err != nil {
		return err
	}
	a := analysis.Run(study, res, analysis.Options{PCA: *pca, Components: *comps, Folds: *folds, Seed: set.Seed})
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := report.Write(*out, &report.Model{Title: *title, Study: study, Result: res, Analysis: a}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Scored %d cells; report: %s\n", len(res.Cells), filepath.Join(*out, "report.html"))
	return nil
}
