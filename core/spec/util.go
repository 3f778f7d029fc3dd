package spec

import (
	"fmt"
	"strings"

	"github.com/agext/levenshtein"
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
	if best == "" || bestD > 3 || bestD >= len(given) && len(given) > 0 && bestD > 1 {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
