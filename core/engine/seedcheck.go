package engine

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/polyglot-teachers/polyglot/core/seeds"
	"github.com/polyglot-teachers/polyglot/core/strategy"
)

// CheckSeedCoverage reads the seed files' index and reports each
// (strategy, language) that no seed row can feed: its cells would fail
// when they start, after other cells have been paid for. The spec's own
// check (spec.checkSeedLanguages) sees only seeds blocks with a fixed
// language; this one also sees language columns and the rows' strategies
// and tags, exactly as generation selects rows.
func (p *Prepared) CheckSeedCoverage() hcl.Diagnostics {
	ix, err := seeds.NewIndex(p.Exp.SeedSets)
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the seed data", Detail: err.Error(), Subject: p.Exp.DeclRange.Ptr()}}
	}
	defer ix.Close()
	// One row per class stands for all rows of it: eligibility depends
	// only on the class.
	var rows []strategy.Row
	var have []string
	for _, c := range ix.Classes() {
		rows = append(rows, strategy.Row{Set: c.Set, Language: c.Language, Strategies: c.Strategies, Tags: c.Tags})
		if s := c.Set + " (" + c.Language + ")"; !containsString(have, s) {
			have = append(have, s)
		}
	}
	var diags hcl.Diagnostics
	for _, st := range p.Exp.Strategies {
		want := p.Exp.Languages
		subject := st.DeclRange
		if l := st.Input.Language; l != "" && l != "target" {
			want = []string{l}
			if r, ok := st.Input.Ranges["language"]; ok {
				subject = r
			}
		}
		for _, lang := range want {
			if len(strategy.Eligible(st, rows, lang)) > 0 {
				continue
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError,
				Summary: fmt.Sprintf("No seed rows in %q for strategy %q", lang, st.Name),
				Detail: fmt.Sprintf("Strategy %q takes seed rows in %q, and none of the seed data it reads (after its input block's seeds and tags, and the rows' strategies column) is in that language. The seed data holds: %s. Add seed rows in %q, drop it from the experiment's languages, or change the strategy's input block.",
					st.Name, lang, strings.Join(have, ", "), lang),
				Subject: subject.Ptr()})
		}
	}
	return diags
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
