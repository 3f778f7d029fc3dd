package spec

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/text/language"
)

// validate runs the checks that span blocks: names used in one block must
// be declared by another.
func (l *loader) validate() {
	e := l.e
	l.validateDatasets()
	names := func(n int, get func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = get(i)
		}
		return out
	}
	teachers := names(len(e.Teachers), func(i int) string { return e.Teachers[i].Name })
	seeds := names(len(e.SeedSets), func(i int) string { return e.SeedSets[i].Name })
	metrics := names(len(e.Metrics), func(i int) string { return e.Metrics[i].Name })

	unknown := func(rng hcl.Range, what, name string, known []string) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown " + what,
			Detail:   fmt.Sprintf("No %s named %q is declared.%s Declare a %s %q {} block or use one of: %s.", what, name, didYouMean(name, known), what, name, quoteList(known)),
			Subject:  rng.Ptr(),
		})
	}

	for _, c := range e.Controls {
		if contains(teachers, c.Name) {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate teacher %q", c.Name),
				Detail:   "Controls are ranked next to teachers, so a control cannot share a teacher's name; rename one of them.",
				Subject:  c.DeclRange.Ptr(),
			})
		}
		if c.Seeds != "" && !contains(seeds, c.Seeds) {
			unknown(c.Ranges["seeds"], "seeds", c.Seeds, seeds)
		}
		for i, m := range c.CaughtBy {
			// "diversity.response" names one value of the diversity metric.
			if base, _, _ := strings.Cut(m, "."); !contains(metrics, base) {
				rng := c.Ranges["caught_by"]
				if l.controlExprs != nil {
					if ex := l.controlExprs[c.Name]; ex != nil {
						rng = elemRange(ex, i)
					}
				}
				unknown(rng, "metric", m, metrics)
			}
		}
	}
	for _, s := range e.Strategies {
		if s.Input.Seeds != "" && !contains(seeds, s.Input.Seeds) {
			unknown(s.Input.Ranges["seeds"], "seeds", s.Input.Seeds, seeds)
		}
		for _, st := range s.Steps {
			if st.Teacher != "self" && st.Teacher != "" && !contains(teachers, st.Teacher) {
				unknown(st.Ranges["teacher"], "teacher", st.Teacher, append([]string{"self"}, teachers...))
			}
		}
		// Every generating teacher runs every strategy; in batch mode a
		// batch goes to one provider, so each step must call the cell's own
		// teacher. Said here rather than when the unit starts, when other
		// cells may already have sent calls.
		for _, t := range e.Teachers {
			if !t.Batch || !t.Generate {
				continue
			}
			for _, st := range s.Steps {
				if st.Teacher == "self" || st.Teacher == "" || st.Teacher == t.Name || !contains(teachers, st.Teacher) {
					continue
				}
				rng := st.Ranges["teacher"]
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Step %q cannot run in teacher %q's batches", st.Name, t.Name),
					Detail: fmt.Sprintf("Teacher %q has batch = true (%s), so its cells run strategy %q in batch mode, where every step must call the cell's own teacher (a batch goes to one provider), but step %q of strategy %q calls teacher %q. Set teacher = \"self\" on step %q, or batch = false on teacher %q, or run this strategy in an experiment without batch teachers.",
						t.Name, t.Ranges["batch"], s.Name, st.Name, s.Name, st.Teacher, st.Name, t.Name),
					Subject: rng.Ptr(),
				})
			}
		}
	}
	for _, s := range e.Strategies {
		l.checkSeedLanguages(s)
	}
	l.validateScreening(metrics, unknown)
	if r := l.scoreReader; r != nil {
		for i, m := range e.Score.Metrics {
			if base, _, _ := strings.Cut(m, "."); !contains(metrics, base) {
				unknown(r.elemRange("metrics", i), "metric", m, metrics)
			}
		}
	}
}

// checkSeedLanguages reports each language strategy s needs seed rows in
// (every experiment language for input language "target", else the input
// language) that no seeds block it reads can hold. Only seeds blocks with
// a fixed language say so before their files are read: when one of them
// takes its languages from a column, nothing is reported.
func (l *loader) checkSeedLanguages(s *Strategy) {
	var sets []*SeedSet
	for _, set := range l.e.SeedSets {
		if s.Input.Seeds == "" || set.Name == s.Input.Seeds {
			if set.Language == "" {
				return
			}
			sets = append(sets, set)
		}
	}
	if len(sets) == 0 {
		return // no seeds at all, or an unknown seeds block: said elsewhere
	}
	want := l.e.Languages
	subject := s.DeclRange
	if s.Input.Language != "" && s.Input.Language != "target" {
		want = []string{s.Input.Language}
		if r, ok := s.Input.Ranges["language"]; ok {
			subject = r
		}
	}
	var have []string
	for _, set := range sets {
		have = append(have, fmt.Sprintf("%s (%s)", set.Name, set.Language))
	}
	for _, lang := range want {
		found := false
		for _, set := range sets {
			found = found || sameWrittenLanguage(lang, set.Language)
		}
		if found {
			continue
		}
		detail := fmt.Sprintf("Strategy %q takes its seed rows in %q, and no seeds block it reads holds that language (seeds: %s).", s.Name, lang, strings.Join(have, ", "))
		if len(want) > 1 || s.Input.Language == "" || s.Input.Language == "target" {
			detail += fmt.Sprintf(" Its input language is \"target\", so every experiment language needs seed rows. Add a seeds block with language = %q (or a language column), remove %q from the experiment's languages, or set the strategy's input language.", lang, lang)
		} else {
			detail += fmt.Sprintf(" Add a seeds block with language = %q, or set input.language to a language the seeds hold.", lang)
		}
		l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("No seed rows in %q for strategy %q", lang, s.Name), Detail: detail, Subject: subject.Ptr()})
	}
}

// sameWrittenLanguage: the base language and likely script agree, as the
// engine matches seed rows to a language (regions are ignored).
func sameWrittenLanguage(a, b string) bool {
	ta, err1 := language.Parse(a)
	tb, err2 := language.Parse(b)
	if err1 != nil || err2 != nil {
		return true // an invalid tag is reported where it is written
	}
	ba, _ := ta.Base()
	bb, _ := tb.Base()
	sa, _ := ta.Script()
	sb, _ := tb.Script()
	return ba == bb && sa == sb
}
