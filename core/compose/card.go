package compose

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/export"
	"github.com/polyglot-teachers/polyglot/core/spec"
)

// CardInfo is what the dataset card says beyond the composition itself.
type CardInfo struct {
	Name        string // pretty name
	Description string
	Confidence  float64 // of the score's intervals
	// Partial marks a composition made while its run was still writing.
	Partial bool

	// Set by Run.
	Dataset        *spec.Dataset
	Plans          []LanguagePlan
	Result         *Result
	JSONL, Parquet bool
}

func (c *CardInfo) license() (id, name, link string) {
	d := c.Dataset
	id, name, link = d.License, d.LicenseName, d.LicenseLink
	if id == "" {
		id = "other"
	}
	if strings.EqualFold(id, "other") {
		if name == "" {
			name = export.DefaultLicenseName
		}
		if link == "" {
			link = "LICENSE.md"
		}
	}
	return id, name, link
}

// LicenseNote is the LICENSE.md the card links to when the licence is
// "other" without a link; nil otherwise.
func (c *CardInfo) LicenseNote() []byte {
	d := c.Dataset
	if !strings.EqualFold(cmpOr(d.License, "other"), "other") || d.LicenseLink != "" {
		return nil
	}
	res := &export.Result{}
	seen := map[string]bool{}
	for _, lp := range c.Plans {
		for _, p := range lp.Picks {
			if !seen[p.Teacher] {
				seen[p.Teacher] = true
				res.Teachers = append(res.Teachers, p.Teacher)
			}
		}
	}
	return export.LicenseNote(res, export.Options{})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// dataExt is the format the card's configs read: Parquet when written.
func (c *CardInfo) dataExt() string {
	if c.Parquet {
		return ".parquet"
	}
	return ".jsonl"
}

// Render is the dataset card: YAML front matter the Hub reads (licence,
// languages, size, a config per language and one for all), then how the
// data was composed and what was dropped.
func (c *CardInfo) Render() []byte {
	var b bytes.Buffer
	res, d := c.Result, c.Dataset
	id, lname, llink := c.license()
	y := export.YAMLString
	b.WriteString("---\n")
	fmt.Fprintf(&b, "license: %s\n", y(id))
	if lname != "" {
		fmt.Fprintf(&b, "license_name: %s\n", y(lname))
	}
	if llink != "" && strings.EqualFold(id, "other") {
		fmt.Fprintf(&b, "license_link: %s\n", y(llink))
	}
	fmt.Fprintf(&b, "pretty_name: %s\n", y(cmpOr(c.Name, d.Name)))
	var langs []LanguageResult
	for _, l := range res.Languages {
		if l.Kept > 0 {
			langs = append(langs, l)
		}
	}
	if len(langs) > 0 {
		b.WriteString("language:\n")
		for _, l := range langs {
			fmt.Fprintf(&b, "- %s\n", y(l.Language))
		}
	}
	b.WriteString("task_categories:\n- text-generation\n")
	fmt.Fprintf(&b, "size_categories:\n- %s\n", y(export.SizeCategory(res.Rows)))
	b.WriteString("tags:\n- synthetic\n- polyglot\n")
	if c.Partial {
		b.WriteString("- partial\n")
	}
	ext := c.dataExt()
	if len(langs) > 0 {
		b.WriteString("configs:\n")
		train, held := 0, 0
		for _, l := range langs {
			train += l.Train
			held += l.HeldOut
		}
		split := func(name, p string) {
			fmt.Fprintf(&b, "  - split: %s\n    path: %s\n", name, y(p))
		}
		b.WriteString("- config_name: all\n  default: true\n  data_files:\n")
		if train > 0 {
			split(export.SplitTrain, path.Join("data", "*", export.SplitTrain+ext))
		}
		if held > 0 {
			split(export.SplitHeldOut, path.Join("data", "*", export.SplitHeldOut+ext))
		}
		for _, l := range langs {
			fmt.Fprintf(&b, "- config_name: %s\n  data_files:\n", y(l.Language))
			if l.Train > 0 {
				split(export.SplitTrain, export.DataPath(l.Language, export.SplitTrain)+ext)
			}
			if l.HeldOut > 0 {
				split(export.SplitHeldOut, export.DataPath(l.Language, export.SplitHeldOut)+ext)
			}
		}
	}
	b.WriteString("---\n\n")
	fmt.Fprintf(&b, "# %s\n\n", cmpOr(c.Name, d.Name))
	if c.Partial {
		b.WriteString(export.PartialNote)
	}
	if c.Description != "" {
		b.WriteString(strings.TrimSpace(c.Description) + "\n\n")
	}
	fmt.Fprintf(&b, "%d examples in %d language(s), composed by polyglot from the scored study by the rule of `dataset %q`.\n\n", res.Rows, len(langs), d.Name)

	b.WriteString("## How the teachers were picked\n\n")
	b.WriteString(ruleText(d) + "\n\n")
	conf := "CI"
	if c.Confidence > 0 {
		conf = fmt.Sprintf("%g%% CI", c.Confidence*100)
	}
	fmt.Fprintf(&b, "| language | teacher | strategy | PG-Score | %s | rank | standing | weight | rows kept | why |\n|---|---|---|---:|---|---:|---|---:|---:|---|\n", conf)
	for i, lp := range c.Plans {
		if len(lp.Picks) == 0 {
			fmt.Fprintf(&b, "| %s | — | | | | | | | 0 | %s |\n", cell(lp.Language), cell(lp.Note))
			continue
		}
		for pi, p := range lp.Picks {
			pg, ci, rank := "—", "—", "—"
			if p.Scored {
				pg, rank = fmt.Sprintf("%.3f", p.PG), fmt.Sprint(p.Rank)
				if p.CI != nil {
					ci = fmt.Sprintf("[%.3f, %.3f]", p.CI.Lo, p.CI.Hi)
				}
			}
			kept := 0
			if i < len(res.Languages) && pi < len(res.Languages[i].PerPick) {
				kept = res.Languages[i].PerPick[pi]
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %.3f | %d | %s |\n", cell(lp.Language), cell(p.Teacher), cell(cmpOr(p.Strategy, "all")),
				pg, ci, rank, cell(cmpOr(p.Standing, "—")), p.Weight, kept, cell(p.Why))
		}
	}
	b.WriteString("\n")
	if d.Rows > 0 {
		fmt.Fprintf(&b, "Size: up to %d rows per language", d.Rows)
	} else if d.Tokens > 0 {
		fmt.Fprintf(&b, "Size: up to %d tokens (words of prompt and response) per language", d.Tokens)
	} else {
		b.WriteString("Size: every row that passes the filters, in the weights' proportions")
	}
	if len(d.StrategyMix) > 0 {
		var parts []string
		for _, s := range sortedKeys(d.StrategyMix) {
			parts = append(parts, fmt.Sprintf("%s %g", s, d.StrategyMix[s]))
		}
		fmt.Fprintf(&b, "; strategy mix: %s", strings.Join(parts, ", "))
	}
	b.WriteString(". Rows are taken in the store's order (seed, then request).\n\n")

	b.WriteString("## Filters\n\n")
	if d.Dedup.Exact || d.Dedup.Near {
		fmt.Fprintf(&b, "- Deduplication within each language, across teachers and strategies, on prompt and response together: exact (after NFKC, lower case and whitespace folding) %s; near duplicates (MinHash over %d-character shingles, estimated Jaccard ≥ %g) %s.", onOff(d.Dedup.Exact), d.Dedup.Shingle, d.Dedup.Threshold, onOff(d.Dedup.Near))
		if d.Dedup.Seeds {
			b.WriteString(" Rows that duplicate a seed row are dropped too.")
		}
		b.WriteString("\n")
	}
	if dc := d.Decontaminate; dc != nil {
		var names []string
		for _, f := range dc.Files {
			names = append(names, "`"+path.Base(f)+"`")
		}
		fmt.Fprintf(&b, "- Decontamination: a row sharing a %d-gram of words with a benchmark item (or containing a shorter item of at least %d words whole) is dropped; benchmarks: %s.\n", dc.NGram, dc.MinTokens, strings.Join(names, ", "))
	}
	switch d.Langid {
	case "drop":
		b.WriteString("- Language: rows whose prompt or response the langid metric identified as another language are dropped.\n")
	case "keep":
		b.WriteString("- Language: rows the langid metric identified as another language are kept and counted.\n")
	}
	fmt.Fprintf(&b, "- Split: %.1f%% of rows are held out (`heldout`), chosen by a hash of the row id and the split seed %d.\n\n", d.HeldOut*100, d.SplitSeed)

	b.WriteString("## Rows kept and dropped\n\n| language | read | kept | train | heldout | duplicate | near duplicate | seed copy | contaminated | off-target language | off-target kept | langid unmeasured |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range res.Languages {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n", cell(l.Language), l.Read, l.Kept, l.Train, l.HeldOut,
			l.Dropped[DropDuplicate], l.Dropped[DropNearDuplicate], l.Dropped[DropSeedCopy], l.Dropped[DropContaminated], l.Dropped[DropLanguage], l.OffTargetKept, l.Unmeasured)
	}
	b.WriteString("\nEvery dropped row is listed in [`dropped.csv`](dropped.csv) with its reason and what it hit (the row it duplicates, the seed row, or the benchmark item as `FILE#ID` with the overlapping words); `summary.json` has these counts.\n")
	for _, l := range res.Languages {
		if len(l.Unchecked) > 0 {
			fmt.Fprintf(&b, "\n> %s was not checked against %s: no file for this language.\n", l.Language, strings.Join(l.Unchecked, ", "))
		}
		if len(l.Short) > 0 {
			fmt.Fprintf(&b, "\n> %s ran short: %s.\n", l.Language, strings.Join(l.Short, "; "))
		}
	}

	b.WriteString("\n## Format\n\n")
	fmt.Fprintf(&b, "`data/LANG/train%s` and `data/LANG/heldout%s`", ext, ext)
	if c.JSONL && c.Parquet {
		b.WriteString(" (the same rows are in the `.jsonl` files)")
	}
	b.WriteString(". Each row has `messages` (")
	if d.System == "messages" {
		b.WriteString("a system turn when the teacher had a system prompt, ")
	}
	b.WriteString("a user turn with the prompt and an assistant turn with the response), `id` (the polyglot request key), `language`, `split`, and its provenance: `teacher`, `model`, `strategy`, `seed` (the experiment's random seed), `seed_row` (the seed row the request was built from), `params` (the generation parameters, JSON), `metrics` (the row's per-example metric values behind its teacher's score, `{metric, value}`) and `system` (the system prompt).\n")
	return b.Bytes()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func ruleText(d *spec.Dataset) string {
	switch d.Rule {
	case "best_strategy":
		s := "Per language, the teacher × strategy cell with the highest PG-Score."
		if d.Pool {
			s += " Cells whose confidence interval overlaps the best's (or, within the best's strategy, that the score cannot tell apart from it) are pooled with it, rows in proportion to PG-Score."
		}
		return s
	case "top_k":
		return fmt.Sprintf("Per language, the %d teachers with the highest PG-Score, rows in proportion to their PG-Scores (shifted to be positive when one is not).", d.K)
	case "table":
		return "Per language, the teachers and weights of the dataset's table."
	}
	s := "Per language, the teacher with the highest PG-Score."
	if d.Pool {
		s += " Teachers the score cannot tell apart from it (standing \"indistinguishable\") are pooled with it, rows in proportion to PG-Score."
	}
	return s + " Negative controls are never picked."
}

// Summary is summary.json: the counts of the card.
func (c *CardInfo) Summary() []byte {
	type pick struct {
		Teacher  string   `json:"teacher"`
		Strategy string   `json:"strategy,omitempty"`
		PG       *float64 `json:"pg,omitempty"`
		CILo     *float64 `json:"ci_lo,omitempty"`
		CIHi     *float64 `json:"ci_hi,omitempty"`
		Standing string   `json:"standing,omitempty"`
		Weight   float64  `json:"weight"`
		Kept     int      `json:"kept"`
	}
	type lang struct {
		LanguageResult
		Picks    []pick `json:"picks"`
		Expected int    `json:"expected"`
	}
	out := struct {
		Dataset   string `json:"dataset"`
		Rule      string `json:"rule"`
		Rows      int    `json:"rows"`
		Languages []lang `json:"languages"`
	}{Dataset: c.Dataset.Name, Rule: c.Dataset.Rule, Rows: c.Result.Rows}
	for i, l := range c.Result.Languages {
		ll := lang{LanguageResult: l}
		if i < len(c.Plans) {
			ll.Expected = c.Plans[i].Expected
			for pi, p := range c.Plans[i].Picks {
				pk := pick{Teacher: p.Teacher, Strategy: p.Strategy, Standing: p.Standing, Weight: p.Weight}
				if pi < len(l.PerPick) {
					pk.Kept = l.PerPick[pi]
				}
				if p.Scored {
					pg := p.PG
					pk.PG = &pg
					if p.CI != nil {
						lo, hi := p.CI.Lo, p.CI.Hi
						pk.CILo, pk.CIHi = &lo, &hi
					}
				}
				ll.Picks = append(ll.Picks, pk)
			}
		}
		out.Languages = append(out.Languages, ll)
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return append(b, '\n')
}
