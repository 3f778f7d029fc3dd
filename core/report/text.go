package report

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/analysis"
	"github.com/polyglot-teachers/polyglot/core/score"
)

// mdCell makes text safe inside a Markdown table cell: pipes and newlines would break the
// table, and HTML would be rendered by most viewers, so both are escaped.
func mdCell(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "\r", "", "<", "&lt;", ">", "&gt;", "&", "&amp;")
	return r.Replace(s)
}

func mdTable(b *bytes.Buffer, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	for i, r := range rows {
		cells := make([]string, len(r))
		for j, c := range r {
			cells[j] = mdCell(c)
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
		if i == 0 {
			fmt.Fprintf(b, "|%s\n", strings.Repeat(" --- |", len(r)))
		}
	}
	b.WriteString("\n")
}

func ciText(lo, hi float64, ok bool) string {
	if !ok {
		return ""
	}
	return fmt.Sprintf("[%s, %s]", num(lo), num(hi))
}

func ff(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// tables returns the CSV tables (full precision) by file name.
func tables(v *view) map[string][][]string {
	res, a := v.Result, v.Analysis
	out := map[string][][]string{}
	rk := [][]string{{"rank", "teacher", "family", "pg", "ci_lo", "ci_hi", "ci_method", "intrinsic", "extrinsic", "standing", "test", "languages"}}
	for _, t := range res.Teachers {
		lo, hi, m := "", "", ""
		if t.CI != nil {
			lo, hi, m = ff(t.CI.Lo), ff(t.CI.Hi), t.CI.Method
		}
		rk = append(rk, []string{strconv.Itoa(t.Rank), t.Teacher, t.Family, ff(t.PG), lo, hi, m, ff(t.Intrinsic), ff(t.Extrinsic), t.Standing, t.Test, strconv.Itoa(len(t.Languages))})
	}
	out["ranking.csv"] = rk
	cellRows := func(strat bool) [][]string {
		rows := [][]string{{"language", "strategy", "teacher", "rank", "pg", "ci_lo", "ci_hi", "intrinsic", "extrinsic", "standing", "screened_out_at_stage"}}
		cs := res.Cells
		if strat {
			cs = res.ByStrategy
		}
		for _, c := range cs {
			lo, hi := "", ""
			if c.CI != nil {
				lo, hi = ff(c.CI.Lo), ff(c.CI.Hi)
			}
			in, ex := "", ""
			if c.HasIntrinsic {
				in = ff(c.Intrinsic)
			}
			if c.HasExtrinsic {
				ex = ff(c.Extrinsic)
			}
			// A cell a screening dropped is scored on its last stage's
			// prefix (docs/method.md §9): the stage, else empty.
			screened := ""
			if st, ok := v.Screening.Partial(c.Teacher, c.Language); ok {
				screened = strconv.Itoa(st.Index + 1)
			}
			rows = append(rows, []string{c.Language, c.Strategy, c.Teacher, strconv.Itoa(c.Rank), ff(c.PG), lo, hi, in, ex, c.Standing, screened})
		}
		return rows
	}
	out["cells.csv"] = cellRows(false)
	out["strategies.csv"] = cellRows(true)
	dg := [][]string{{"severity", "kind", "language", "benchmark", "student", "teacher", "strategy", "metric", "message"}}
	for _, d := range res.Diagnostics {
		dg = append(dg, []string{d.Severity, d.Kind, d.Language, d.Benchmark, d.Student, d.Teacher, d.Strategy, d.Metric, d.Message})
	}
	out["diagnostics.csv"] = dg
	if p := a.PCA; p != nil {
		rows := [][]string{append([]string{"component", "variance", "explained", "cumulative"}, p.Features...)}
		for i, l := range p.Loadings {
			r := []string{fmt.Sprintf("PC%d", i+1), ff(p.Variance[i]), ff(p.Explained[i]), ff(p.Cumulative[i])}
			for _, x := range l {
				r = append(r, ff(x))
			}
			rows = append(rows, r)
		}
		out["pca.csv"] = rows
	}
	if len(a.Regressions) > 0 {
		rows := [][]string{{"target", "k", "n", "min_n", "folds", "in_sample_r2", "in_sample_rmse", "held_out_r2", "held_out_rmse"}}
		for _, r := range a.Regressions {
			rows = append(rows, []string{r.Target, strconv.Itoa(r.K), strconv.Itoa(r.N), strconv.Itoa(r.MinN), strconv.Itoa(r.Folds), ff(r.InSampleR2), ff(r.InSampleRMSE), ff(r.HeldOutR2), ff(r.HeldOutRMSE)})
		}
		out["regression.csv"] = rows
	}
	for _, am := range []*analysis.AlphaMatrix{a.AlphaRobustness, a.AlphaTeachers} {
		if am == nil {
			continue
		}
		rows := [][]string{{"level", "n", "alpha_row", "alpha_col", "spearman"}}
		if prev, ok := out["alpha.csv"]; ok {
			rows = prev
		}
		for i, ai := range am.Alphas {
			for j, aj := range am.Alphas {
				rows = append(rows, []string{am.Level, strconv.Itoa(am.N), ff(ai), ff(aj), ff(am.Rho[i][j])})
			}
		}
		out["alpha.csv"] = rows
	}
	cost := [][]string{{"teacher", "cost_usd", "saved_by_cache_usd", "examples", "cost_per_example", "pg", "pg_per_dollar", "extrinsic", "extrinsic_per_dollar"}}
	for _, c := range a.Cost {
		cost = append(cost, []string{c.Teacher, ff(c.CostUSD), ff(c.SavedUSD), strconv.Itoa(c.Examples), ff(c.CostPerExample), ff(c.PG), ff(c.PGPerDollar), ff(c.Extrinsic), ff(c.PGRPerDollar)})
	}
	out["cost.csv"] = cost
	if len(v.Servers) > 0 {
		rows := [][]string{{"server", "engine", "model", "executor", "gpus", "held_hours", "gpu_hours"}}
		for _, sc := range v.Servers {
			rows = append(rows, []string{sc.Server, sc.Engine, sc.Model, sc.Executor, strconv.Itoa(sc.GPUs), ff(sc.HeldHours), ff(sc.GPUHours)})
		}
		out["servers.csv"] = rows
	}
	ctl := [][]string{{"control", "kind", "language", "metric", "designated", "control_value", "reference_value", "effect", "relative_effect", "ci_lo", "ci_hi", "ci_method", "worse", "caught", "test"}}
	for _, c := range a.Controls {
		lo, hi, m := "", "", ""
		if c.CI != nil {
			lo, hi, m = ff(c.CI.Lo), ff(c.CI.Hi), c.CI.Method
		}
		ctl = append(ctl, []string{c.Control, c.Kind, c.Language, c.Metric, strconv.FormatBool(c.Designated), ff(c.ControlValue), ff(c.ReferenceValue),
			ff(c.Effect), ff(c.RelEffect), lo, hi, m, strconv.FormatBool(c.Worse), strconv.FormatBool(c.Caught), c.Test})
	}
	out["controls.csv"] = ctl
	if len(res.Generation) > 0 {
		gen := [][]string{{"teacher", "language", "strategy", "examples", "failures", "share", "top_reasons", "ranked"}}
		for _, g := range res.Generation {
			gen = append(gen, []string{g.Teacher, g.Language, g.Strategy, strconv.Itoa(g.Examples), strconv.Itoa(g.Failures), ff(g.Share), reasonList(g.TopReasons), strconv.FormatBool(g.Ranked)})
		}
		out["generation.csv"] = gen
	}
	return out
}

func reasonList(rs []score.ReasonCount) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s ×%d", r.Reason, r.Count))
	}
	return strings.Join(parts, ", ")
}

// markdown renders the report's main tables as GitHub-flavoured Markdown.
func markdown(v *view) []byte {
	var b bytes.Buffer
	res, a := v.Result, v.Analysis
	fmt.Fprintf(&b, "# %s\n\n", mdCell(v.Title))
	if v.Created != "" {
		fmt.Fprintf(&b, "Created %s\n\n", v.Created)
	}
	s := v.Settings
	var in []string
	for _, m := range res.Metrics {
		if m.InScore {
			in = append(in, m.Metric+" ("+m.Transform+")")
		}
	}
	// The answer first (ranking, teacher × language), settings at the end.
	b.WriteString("## Recommendations\n\n")
	for _, r := range a.Recommendations {
		fmt.Fprintf(&b, "- **%s** (%s): %s\n", mdCell(r.Scope), r.Kind, mdCell(r.Text))
	}
	b.WriteString("\n## Ranking\n\n★ best, ≈ not distinguishable from the best, ? no uncertainty information.\n\n")
	rows := [][]string{{"rank", "teacher", "PG-Score", "CI", "intrinsic", "extrinsic", "vs best"}}
	for _, t := range res.Teachers {
		rows = append(rows, []string{strconv.Itoa(t.Rank), t.Teacher, num(t.PG), ciText(ciLo(t.CI), ciHi(t.CI), t.CI != nil), num(t.Intrinsic), num(t.Extrinsic), mark(t.Standing) + " " + t.Standing})
	}
	mdTable(&b, rows)
	b.WriteString("## Teacher × language (PG-Score)\n\n")
	hdr := append([]string{"teacher"}, res.Languages...)
	rows = [][]string{hdr}
	for _, t := range res.Teachers {
		r := []string{t.Teacher}
		for _, l := range res.Languages {
			if c, ok := res.Cell(t.Teacher, l); ok {
				r = append(r, num(c.PG)+" "+mark(c.Standing)+v.Screening.partialMark(t.Teacher, l))
			} else {
				r = append(r, "–")
			}
		}
		rows = append(rows, r)
	}
	mdTable(&b, rows)
	writeScreening(&b, v.Screening)
	if len(res.ByStrategy) > 0 {
		b.WriteString("## Per strategy\n\n")
		rows = [][]string{{"language", "strategy", "teacher", "PG-Score", "CI"}}
		for _, c := range res.ByStrategy {
			rows = append(rows, []string{c.Language, c.Strategy, c.Teacher, num(c.PG), ciText(ciLo(c.CI), ciHi(c.CI), c.CI != nil)})
		}
		mdTable(&b, rows)
	}
	b.WriteString("## Analyses\n\n")
	if p := a.PCA; p != nil {
		fmt.Fprintf(&b, "PCA of the %s features over %d cells (minimum %d); the regressions use %d component(s): %s.\n\n", p.Set, p.N, p.MinN, p.Components, p.ComponentsRule)
		rows = [][]string{append([]string{"component", "explained", "cumulative"}, p.Features...)}
		for i, l := range p.Loadings {
			r := []string{fmt.Sprintf("PC%d", i+1), fmt.Sprintf("%.1f%%", p.Explained[i]*100), fmt.Sprintf("%.1f%%", p.Cumulative[i]*100)}
			for _, x := range l {
				r = append(r, num(x))
			}
			rows = append(rows, r)
		}
		mdTable(&b, rows)
	}
	if len(a.Regressions) > 0 {
		rows = [][]string{{"regression target", "components", "cells (minimum)", "in-sample R² (the study's)", "in-sample RMSE", "held-out R²", "held-out RMSE"}}
		for _, r := range a.Regressions {
			t := map[string]string{analysis.TargetBenchmark: "student benchmark score", analysis.TargetPGR: "PGR"}[r.Target]
			rows = append(rows, []string{t, strconv.Itoa(r.K), fmt.Sprintf("%d (%d)", r.N, r.MinN), num(r.InSampleR2), num(r.InSampleRMSE),
				fmt.Sprintf("%s (%d-fold)", num(r.HeldOutR2), r.Folds), num(r.HeldOutRMSE)})
		}
		mdTable(&b, rows)
	}
	if c := a.IntrinsicExtrinsic; c != nil {
		fmt.Fprintf(&b, "Intrinsic vs extrinsic: Spearman ρ = %s (p = %s, %d cells, minimum %d).\n\n", num(c.Rho), num(c.P), c.N, c.MinN)
	}
	for _, am := range []*analysis.AlphaMatrix{a.AlphaRobustness, a.AlphaTeachers} {
		if am == nil {
			continue
		}
		label := "teacher × language cells (the study's form; the advice uses it)"
		if am.Level != "cells" {
			label = "teacher averages (a second view)"
		}
		fmt.Fprintf(&b, "α-robustness over %s: %d %s (minimum %d), lowest Spearman %s.\n\n", label, am.N, am.Level, am.MinN, num(am.Min))
		hdr := []string{"α"}
		for _, al := range am.Alphas {
			hdr = append(hdr, num(al))
		}
		rows = [][]string{hdr}
		for i, al := range am.Alphas {
			r := []string{num(al)}
			for _, x := range am.Rho[i] {
				r = append(r, num(x))
			}
			rows = append(rows, r)
		}
		mdTable(&b, rows)
	}
	if f := a.ScaleParams; f != nil {
		fmt.Fprintf(&b, "PG-Score vs log10(parameters): slope %s ± %s, p = %s (%d teachers, minimum %d).\n\n", num(f.Slope), num(f.SlopeSE), num(f.P), f.N, f.MinN)
	}
	if f := a.ScaleStrength; f != nil {
		fmt.Fprintf(&b, "PG-Score vs benchmark strength: slope %s ± %s, p = %s (%d teachers, minimum %d).\n\n", num(f.Slope), num(f.SlopeSE), num(f.P), f.N, f.MinN)
	}
	if f := a.Family; f != nil {
		fmt.Fprintf(&b, "Family matching: matched mean PGR %s (%d), unmatched %s (%d), Welch p = %s (minimum %d per group).\n\n", num(f.Test.MeanA), f.Matched, num(f.Test.MeanB), f.Unmatched, num(f.Test.P), f.MinN)
	}
	for _, n := range a.Notes {
		fmt.Fprintf(&b, "- %s\n", mdCell(n))
	}
	if len(v.Missing) > 0 {
		b.WriteString("\n## Missing results\n\nThese units failed, so their results are missing: the scores above are computed without them. Fix the cause and run again to fill them in.\n\n")
		rows = [][]string{{"stage", "metric / student", "teacher", "language", "seed", "reason"}}
		for _, m := range v.Missing {
			rows = append(rows, []string{m.Stage, m.Metric + m.Student, m.Teacher, m.Language, strconv.Itoa(m.Seed), m.Reason})
		}
		mdTable(&b, rows)
	}
	if len(v.GenerationRows) > 0 {
		fmt.Fprintf(&b, "\n## Generation failures per cell\n\nA cell below %d examples or %s %% of its requests is not ranked.\n\n", s.MinExamples, num(s.MinExampleShare*100))
		rows = [][]string{{"teacher", "language", "strategy", "examples", "failures", "kept", "top reasons", "ranked"}}
		for _, g := range v.GenerationRows {
			rows = append(rows, []string{g.Teacher, g.Language, g.Strategy, strconv.Itoa(g.Examples), strconv.Itoa(g.Failures),
				fmt.Sprintf("%.1f%%", 100*g.Share), reasonList(g.TopReasons), map[bool]string{true: "yes", false: "no"}[g.Ranked]})
		}
		mdTable(&b, rows)
	}
	b.WriteString("\n## Diagnostics\n\n")
	if len(res.Diagnostics) == 0 {
		b.WriteString("No anchor or data problem found.\n\n")
	} else {
		rows = [][]string{{"severity", "kind", "message"}}
		for _, d := range res.Diagnostics {
			rows = append(rows, []string{d.Severity, d.Kind, d.Message})
		}
		mdTable(&b, rows)
	}
	if len(a.Cost) > 0 {
		b.WriteString("## Cost\n\n")
		b.WriteString("What each teacher's data cost; the part the response cache answered was paid by an earlier run and not spent again.\n\n")
		rows = [][]string{{"teacher", "cost (USD)", "saved by the cache (USD)", "PG-Score", "PG / USD", "PGR / USD"}}
		for _, c := range a.Cost {
			rows = append(rows, []string{c.Teacher, num(c.CostUSD), num(c.SavedUSD), num(c.PG), num(c.PGPerDollar), num(c.PGRPerDollar)})
		}
		mdTable(&b, rows)
	}
	if len(v.Servers) > 0 {
		b.WriteString("### Model servers\n\nGPU time held by the servers the experiment ran itself, next to the API spend.\n\n")
		rows = [][]string{{"server", "engine", "model", "executor", "GPUs", "hours held", "GPU-hours"}}
		for _, sc := range v.Servers {
			rows = append(rows, []string{sc.Server, sc.Engine, sc.Model, sc.Executor, strconv.Itoa(sc.GPUs), num(sc.HeldHours), num(sc.GPUHours)})
		}
		mdTable(&b, rows)
	}
	if len(v.ControlRows) > 0 {
		fmt.Fprintf(&b, "## Negative controls\n\n✓ caught: worse than the reference data with a %s %% confidence interval of the difference that excludes zero (without an interval: worse by at least %s %% of the reference); ✗ not caught; * designated metric. Each cell: control − reference [interval].\n\n",
			num(v.Settings.Confidence*100), num(analysis.MinControlEffect*100))
		rows = [][]string{append([]string{"control", "language"}, v.ControlMetrics...)}
		for _, r := range v.ControlRows {
			row := []string{r.Control, r.Language}
			for _, c := range r.Cells {
				cell := "–"
				if c.Present {
					cell = map[bool]string{true: "✓", false: "✗"}[c.Caught]
					if c.Designated {
						cell += "*"
					}
					cell += " " + num(c.Effect)
					if c.CI != nil {
						cell += " " + ciText(c.CI.Lo, c.CI.Hi, true)
					}
				}
				row = append(row, cell)
			}
			rows = append(rows, row)
		}
		mdTable(&b, rows)
	}
	b.WriteString("## Settings\n\n")
	mdTable(&b, [][]string{{"setting", "value"}, {"alpha", num(s.Alpha)}, {"metrics", strings.Join(in, ", ")}, {"pgr", s.PGR},
		{"standardize", s.Standardize}, {"confidence", num(s.Confidence)}, {"bootstrap", fmt.Sprintf("%d (seed %d)", s.Bootstrap, s.Seed)}})
	if hasLangid(res.Metrics) {
		b.WriteString(undNote + "\n\n")
	}
	return b.Bytes()
}

// undNote explains the langid metric's "und" wherever the report shows the metric.
const undNote = "langid: the share of examples whose prompt and response are both identified as the cell's language. " +
	"A text is \"und\" (undetermined) when it is too short, too uncertain, or mixes two languages (code-switched) for one language to be named; " +
	"it counts as off target, and langid.und_rate gives its share."

func hasLangid(ms []score.MetricStat) bool {
	for _, m := range ms {
		if m.Metric == "langid" || strings.HasPrefix(m.Metric, "langid.") {
			return true
		}
	}
	return false
}
