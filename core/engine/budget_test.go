package engine

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// A resumed run starts its budgets from what the store says earlier runs
// spent: before, every run started at zero and could spend the cap again.
func TestGeneratorCarriesEarlierSpendIntoBudgets(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := st.NewWriter(store.WriterOptions{})
	for i, teacher := range []string{"gpt", "gpt", "aya"} {
		err := w.Example(&store.Example{
			Key: "k" + string(rune('a'+i)), Unit: "gen/" + teacher, Teacher: teacher, Model: "m",
			Language: "de", Strategy: "generate", Seed: 1, Idx: i, Prompt: "p", Response: "r",
			Params: json.RawMessage(`{}`), CostUSD: 0.25, Created: time.Unix(0, 0).UTC(),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	one := 1.0
	r := &Runner{P: &Prepared{Exp: &spec.Experiment{BudgetUSD: &one}}, Store: st, Opts: Options{NoCache: true}}
	g := newGenerator(r)
	defer g.close()
	if got := g.budget.Spent(); math.Abs(got-0.75) > 1e-9 {
		t.Errorf("experiment budget starts at %v spent, want 0.75 from the earlier run", got)
	}
	if got := g.budget.Remaining(); math.Abs(got-0.25) > 1e-9 {
		t.Errorf("experiment budget remaining %v, want 0.25", got)
	}
	if got := g.spent["gpt"]; math.Abs(got-0.5) > 1e-9 {
		t.Errorf("gpt carried %v, want 0.5", got)
	}
	if err := g.budgetReadable("gpt", true); err != nil {
		t.Errorf("budgetReadable: %v", err)
	}
}
