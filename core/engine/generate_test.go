package engine

import (
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/strategy"
)

func TestEstimateTokens(t *testing.T) {
	for _, c := range []struct {
		text string
		want int
	}{
		{"", 0},
		{"abcd", 1},
		{"Wie spät ist es?", 5},
		{"お誕生日おめでとう", 9},
		{strings.Repeat("a", 4000), 1000},
	} {
		if got := EstimateTokens(c.text); got != c.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", c.text, got, c.want)
		}
	}
}

func TestFitContextSkipsLongSeeds(t *testing.T) {
	window, answer := 1100, 1000
	exp := &spec.Experiment{Teachers: []*spec.Teacher{{Name: "small", ContextTokens: &window, Sampling: spec.Sampling{MaxTokens: &answer}}, {Name: "big"}}}
	g := &generator{r: &Runner{P: &Prepared{Exp: exp}}}
	rows := []strategy.Row{{ID: "short", Prompt: strings.Repeat("a", 400)}, {ID: "long", Prompt: strings.Repeat("a", 404)}}
	kept, skipped := g.fitContext("small", rows)
	if skipped != 1 || len(kept) != 1 || kept[0].ID != "short" {
		t.Fatalf("kept %v, skipped %d", kept, skipped)
	}
	if kept, skipped := g.fitContext("big", rows); skipped != 0 || len(kept) != 2 {
		t.Fatalf("a teacher without a window keeps everything: %v %d", kept, skipped)
	}
}
