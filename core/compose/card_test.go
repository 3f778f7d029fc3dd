package compose

import (
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// A composition made with --partial while its run was still writing says
// so on its card, as a plain partial export's card does.
func TestCardMarksPartial(t *testing.T) {
	for _, partial := range []bool{false, true} {
		c := CardInfo{Name: "study / best", Partial: partial, Dataset: &spec.Dataset{Name: "best"},
			Result: &Result{Languages: []LanguageResult{{Language: "de", Kept: 3, Train: 3}}}, JSONL: true}
		card := string(c.Render())
		for _, s := range []string{"tags:\n- synthetic\n- polyglot\n- partial\n", "**Partial export.**"} {
			if got := strings.Contains(card, s); got != partial {
				t.Errorf("Partial=%v: card contains %q = %v:\n%s", partial, s, got, card)
			}
		}
	}
}
