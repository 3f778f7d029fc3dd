package spec

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
)

// didYouMean returns ` Did you mean "x"?` for the closest candidate within
// a small edit distance, or "".
func didYouMean(given string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := levenshtein.Distance(given, c, nil)
		if d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" && bestD < 3 && bestD < len(best) {
		return fmt.Sprintf(" Did you mean %q?", best)
	}
	// A truncated or extended name ("scramble" for "scramble_words").
	for _, c := range candidates {
		if len(given) >= 3 && len(c) >= 3 && (strings.HasPrefix(c, given) || strings.HasPrefix(given, c)) {
			return fmt.Sprintf(" Did you mean %q?", c)
		}
	}
	return ""
}

// advise appends what to do to the diagnostics hcl's Content produces,
// whose details only state the problem.
func advise(diags hcl.Diagnostics, schema *hcl.BodySchema) hcl.Diagnostics {
	var attrs, blocks []string
	for _, a := range schema.Attributes {
		attrs = append(attrs, a.Name)
	}
	for _, b := range schema.Blocks {
		blocks = append(blocks, b.Type)
	}
	for _, d := range diags {
		switch d.Summary {
		case "Missing required argument":
			d.Detail += " Add it to this block."
		case "Unsupported argument":
			if len(attrs) == 0 {
				d.Detail += " This block takes no arguments; remove it."
			} else {
				d.Detail += " Fix the name or remove it; arguments allowed here: " + strings.Join(attrs, ", ") + "."
			}
		case "Unsupported block type":
			if len(blocks) == 0 {
				d.Detail += " This block takes no nested blocks; remove it."
			} else {
				d.Detail += " Fix the name or remove it; blocks allowed here: " + strings.Join(blocks, ", ") + "."
			}
		case "Missing name for " + strings.TrimPrefix(d.Summary, "Missing name for "):
			d.Detail += " Add a name in quotes after the block type."
		}
	}
	return diags
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

var unknownFuncName = regexp.MustCompile(`no function named "([^"]+)"`)

// adviseFunctions completes hcl's "Call to unknown function" errors, whose
// suggestion only catches small typos, with a closer match and the list.
func adviseFunctions(diags hcl.Diagnostics, funcs []string) {
	for _, d := range diags {
		if d.Summary != "Call to unknown function" || strings.Contains(d.Detail, "Did you mean") {
			continue
		}
		m := unknownFuncName.FindStringSubmatch(d.Detail)
		if m == nil {
			continue
		}
		d.Detail += didYouMean(m[1], funcs) + " Available functions: " + strings.Join(funcs, ", ") + "."
	}
}
