package spec

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Dataset is a `dataset "NAME" {}` block: how `polyglot export --compose
// NAME` builds a training set from the scored study.
type Dataset struct {
	Name string
	// Rule picks the teachers of each language: "best" (the best-ranked
	// teacher), "best_strategy" (the best teacher × strategy cell), "top_k"
	// (the K best, mixed in proportion to their PG-Score) or "table" (Table).
	Rule string
	K    int
	// Pool adds, under best and best_strategy, the teachers the score
	// cannot tell apart from the best (standing "indistinguishable").
	Pool bool
	// Table: language ("*" = every other language) → teacher or
	// "teacher/strategy" → weight.
	Table map[string]map[string]float64
	// Rows and Tokens bound each language's size (0 = no bound; at most
	// one of them is set).
	Rows, Tokens int
	// StrategyMix: strategy → weight; nil = every strategy as generated.
	StrategyMix map[string]float64
	HeldOut     float64 // share of rows in the held-out split
	SplitSeed   int64
	// Langid is "drop" (rows the langid metric judged off target are
	// dropped), "keep" (they are kept and counted) or "off".
	Langid       string
	LangidMetric string // the metric block whose per-example values are read; "" = the one using the langid plugin
	System       string // "field", "messages" or "none"
	License      string
	LicenseName  string
	LicenseLink  string
	Dedup        DatasetDedup
	// Decontaminate is nil when the block has none.
	Decontaminate *DatasetDecontaminate
	DeclRange     hcl.Range
	Ranges        map[string]hcl.Range
}

// DatasetDedup configures deduplication across teachers and strategies.
type DatasetDedup struct {
	Exact, Near bool
	Threshold   float64
	Shingle     int
	Seeds       bool // also drop rows that duplicate a seed row
}

// DatasetDecontaminate configures the n-gram overlap check against
// benchmark items.
type DatasetDecontaminate struct {
	// Files are benchmark item files (absolute, may hold {lang}).
	Files     []string
	NGram     int
	MinTokens int      // items shorter than NGram but at least this long match as a whole
	Fields    []string // item fields compared; nil = by file shape
	Ranges    map[string]hcl.Range
}

var datasetDedupSpec = &blockSpec{attrs: []attrSpec{
	{name: "exact", ty: cty.Bool, def: cty.True},
	{name: "near", ty: cty.Bool, def: cty.True},
	{name: "threshold", ty: cty.Number, def: cty.NumberFloatVal(0.8)},
	{name: "shingle", ty: cty.Number, def: cty.NumberIntVal(5)},
	{name: "seeds", ty: cty.Bool, def: cty.False},
}}

var datasetDecontamSpec = &blockSpec{attrs: []attrSpec{
	{name: "files", ty: cty.List(cty.String), required: true},
	{name: "ngram", ty: cty.Number, def: cty.NumberIntVal(13)},
	{name: "min_tokens", ty: cty.Number, def: cty.NumberIntVal(6)},
	{name: "fields", ty: cty.List(cty.String)},
}}

var datasetSpec = &blockSpec{
	attrs: []attrSpec{
		{name: "rule", ty: cty.String, def: cty.StringVal("best")},
		{name: "k", ty: cty.Number, def: cty.NumberIntVal(2)},
		{name: "pool", ty: cty.Bool, def: cty.False},
		{name: "table", ty: cty.Map(cty.Map(cty.Number))},
		{name: "rows", ty: cty.Number, def: cty.Zero},
		{name: "tokens", ty: cty.Number, def: cty.Zero},
		{name: "strategy_mix", ty: cty.Map(cty.Number)},
		{name: "held_out", ty: cty.Number, def: cty.NumberFloatVal(0.05)},
		{name: "split_seed", ty: cty.Number, def: cty.NumberIntVal(1)},
		{name: "langid", ty: cty.String, def: cty.StringVal("drop")},
		{name: "langid_metric", ty: cty.String},
		{name: "system", ty: cty.String, def: cty.StringVal("field")},
		{name: "license", ty: cty.String, def: cty.StringVal("other")},
		{name: "license_name", ty: cty.String},
		{name: "license_link", ty: cty.String},
	},
	blocks: []nestedSpec{
		{typeName: "dedup", spec: datasetDedupSpec, max: 1},
		{typeName: "decontaminate", spec: datasetDecontamSpec, max: 1},
	},
}

// Dataset returns the dataset block with that name, or nil.
func (e *Experiment) Dataset(name string) *Dataset {
	for _, d := range e.Datasets {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (l *loader) evalDataset(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, datasetSpec, ctx)
	r := newReader(ev, &l.diags)
	d := &Dataset{Name: n.name, DeclRange: n.block.DefRange, Ranges: r.ranges()}
	d.Rule = r.oneOf("rule", "composition rule", "best", "best_strategy", "top_k", "table")
	if d.Rule == "" {
		d.Rule = "best"
	}
	d.K = r.nonNegInt("k")
	if d.Rule == "top_k" && d.K < 1 {
		r.errorf("k", "Invalid k", "rule = \"top_k\" mixes the k best teachers of each language; k must be at least 1, got %d.", d.K)
	}
	d.Pool = r.bool("pool")
	if v, ok := r.get("table"); ok {
		d.Table = map[string]map[string]float64{}
		for it := v.ElementIterator(); it.Next(); {
			k, row := it.Element()
			m := map[string]float64{}
			for it2 := row.ElementIterator(); it2.Next(); {
				t, w := it2.Element()
				f, _ := w.AsBigFloat().Float64()
				if f < 0 {
					r.errorf("table", "Invalid table weight", "table[%q][%q] is %g; weights must be zero or more.", k.AsString(), t.AsString(), f)
				}
				m[t.AsString()] = f
			}
			d.Table[k.AsString()] = m
		}
	}
	switch {
	case d.Rule == "table" && len(d.Table) == 0:
		r.errorf("rule", "Missing table", "rule = \"table\" takes the teachers of each language from table, e.g. table = { \"*\" = { teacher_a = 2, teacher_b = 1 } }; add it.")
	case d.Rule != "table" && d.Table != nil:
		r.errorf("table", "Table without rule = \"table\"", "table is read only when rule = \"table\"; set that rule or remove the table.")
	}
	d.Rows = r.nonNegInt("rows")
	d.Tokens = r.nonNegInt("tokens")
	if d.Rows > 0 && d.Tokens > 0 {
		r.errorf("tokens", "Both rows and tokens", "a language's size is given in rows or in tokens, not both; remove one.")
	}
	if v, ok := r.get("strategy_mix"); ok {
		d.StrategyMix = map[string]float64{}
		sum := 0.0
		for it := v.ElementIterator(); it.Next(); {
			k, w := it.Element()
			f, _ := w.AsBigFloat().Float64()
			if f < 0 {
				r.errorf("strategy_mix", "Invalid strategy weight", "strategy_mix[%q] is %g; weights must be zero or more.", k.AsString(), f)
			}
			d.StrategyMix[k.AsString()] = f
			sum += f
		}
		if sum <= 0 {
			r.errorf("strategy_mix", "Empty strategy mix", "strategy_mix gives every strategy weight 0; give at least one a positive weight, or remove it to keep every strategy.")
		}
	}
	d.HeldOut = r.num("held_out")
	if d.HeldOut < 0 || d.HeldOut >= 1 {
		r.errorf("held_out", "Invalid held_out", "held_out is the share of rows put in the held-out split; it must be in [0, 1), got %g.", d.HeldOut)
	}
	if p := r.intPtr("split_seed"); p != nil {
		d.SplitSeed = *p
	}
	d.Langid = r.oneOf("langid", "language filter", "drop", "keep", "off")
	if d.Langid == "" {
		d.Langid = "drop"
	}
	d.LangidMetric = r.str("langid_metric")
	d.System = r.oneOf("system", "system prompt placement", "field", "messages", "none")
	if d.System == "" {
		d.System = "field"
	}
	d.License, d.LicenseName, d.LicenseLink = r.str("license"), r.str("license_name"), r.str("license_link")

	dd := r.sub("dedup")
	d.Dedup = DatasetDedup{Exact: dd.bool("exact"), Near: dd.bool("near"), Threshold: dd.num("threshold"), Shingle: dd.nonNegInt("shingle"), Seeds: dd.bool("seeds")}
	if d.Dedup.Threshold <= 0 || d.Dedup.Threshold > 1 {
		dd.errorf("threshold", "Invalid threshold", "threshold is the estimated Jaccard similarity at or above which two rows are near duplicates; it must be in (0, 1], got %g.", d.Dedup.Threshold)
	}
	if d.Dedup.Shingle < 1 || d.Dedup.Shingle > 64 {
		dd.errorf("shingle", "Invalid shingle", "shingle is the number of characters per shingle; it must be in 1..64, got %d.", d.Dedup.Shingle)
	}
	if len(ev.blocks["decontaminate"]) > 0 {
		dc := r.sub("decontaminate")
		c := &DatasetDecontaminate{NGram: dc.nonNegInt("ngram"), MinTokens: dc.nonNegInt("min_tokens"), Fields: dc.strList("fields"), Ranges: dc.ranges()}
		if c.NGram < 1 || c.NGram > 64 {
			dc.errorf("ngram", "Invalid ngram", "ngram is the number of tokens per n-gram compared with benchmark items (13 is usual); it must be in 1..64, got %d.", c.NGram)
		}
		if c.MinTokens < 1 || c.MinTokens > c.NGram {
			dc.errorf("min_tokens", "Invalid min_tokens", "min_tokens is the length below which a benchmark item is too short to check; it must be in 1..ngram (%d), got %d.", c.NGram, c.MinTokens)
		}
		for i, f := range dc.strList("files") {
			full := l.read.full(f)
			fail := func(summary, detail string, args ...any) {
				l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
					Detail: fmt.Sprintf(detail, args...), Subject: dc.elemRange("files", i).Ptr()})
			}
			if err := l.read.check(full); err != nil {
				fail("Benchmark file outside the experiment folder", "%v.", err)
				continue
			}
			c.Ranges[fmt.Sprintf("files.%d", len(c.Files))] = dc.elemRange("files", i)
			c.Files = append(c.Files, full)
		}
		if len(dc.strList("files")) == 0 {
			dc.errorf("files", "No benchmark files", "decontaminate needs the benchmark items to compare with: files = [\"bench/mgsm_{lang}.tsv\"] (JSONL, CSV, TSV or Parquet).")
		}
		d.Decontaminate = c
	}
	l.datasets[n.name] = d
}

// validateDatasets checks the names a dataset block refers to once every
// block is loaded.
func (l *loader) validateDatasets() {
	teachers := map[string]bool{}
	for _, t := range l.e.Teachers {
		teachers[t.Name] = true
	}
	strategies := map[string]bool{}
	for _, s := range l.e.Strategies {
		strategies[s.Name] = true
	}
	metrics := map[string]bool{}
	for _, m := range l.e.Metrics {
		metrics[m.Name] = true
	}
	for _, d := range l.e.Datasets {
		bad := func(attr, summary, detail string, args ...any) {
			rng := d.DeclRange
			if r, ok := d.Ranges[attr]; ok {
				rng = r
			}
			if d.Decontaminate != nil {
				if r, ok := d.Decontaminate.Ranges[attr]; ok {
					rng = r
				}
			}
			l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(detail, args...), Subject: rng.Ptr()})
		}
		if c := d.Decontaminate; c != nil {
			var kept []string
			for i, full := range c.Files {
				// A {lang} file need not exist for every language (MGSM has
				// eleven); the composer lists the languages it could not check.
				found := false
				for _, lang := range append([]string{""}, l.e.Languages...) {
					if st, err := os.Stat(strings.ReplaceAll(full, "{lang}", lang)); err == nil && !st.IsDir() && (lang != "" || !strings.Contains(full, "{lang}")) {
						found = true
						break
					}
				}
				if !found {
					bad(fmt.Sprintf("files.%d", i), "Benchmark file not found", "There is no file %s (for any of the experiment's languages when it holds {lang}). Paths are relative to the spec folder (%s).", full, l.read.dir)
					continue
				}
				kept = append(kept, full)
			}
			c.Files = kept
		}
		for _, lang := range sortedKeys(d.Table) {
			for _, key := range sortedKeys(d.Table[lang]) {
				t, s, hasS := strings.Cut(key, "/")
				if !teachers[t] {
					bad("table", "Unknown teacher in table", "table[%q] names %q, but no teacher %q is declared.%s", lang, key, t, didYouMean(t, sortedKeys(teachers)))
				}
				if hasS && !strategies[s] {
					bad("table", "Unknown strategy in table", "table[%q] names %q, but no strategy %q is declared.%s", lang, key, s, didYouMean(s, sortedKeys(strategies)))
				}
			}
		}
		for _, s := range sortedKeys(d.StrategyMix) {
			if !strategies[s] {
				bad("strategy_mix", "Unknown strategy in strategy_mix", "strategy_mix names %q, but no strategy %q is declared.%s", s, s, didYouMean(s, sortedKeys(strategies)))
			}
		}
		if d.LangidMetric != "" && !metrics[d.LangidMetric] {
			bad("langid_metric", "Unknown metric", "langid_metric names %q, but no metric %q is declared.%s", d.LangidMetric, d.LangidMetric, didYouMean(d.LangidMetric, sortedKeys(metrics)))
		}
	}
}
