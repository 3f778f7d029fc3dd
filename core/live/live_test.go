package live

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
)

func str(s string) *string { return &s }

// TestExampleQuery: the server answers the example browser's queries as the
// report's page does: filters by name ("" is the strategy of unsplit data),
// search, cells in metric, language, teacher, strategy order, examples best
// first by the metric's direction with missing values last, and pages.
func TestExampleQuery(t *testing.T) {
	ex := []score.Example{
		{Teacher: "b", Language: "de", Strategy: "", Metric: "ppl", ID: "1", Value: 5, Prompt: "p1", Response: "Hallo"},
		{Teacher: "b", Language: "de", Strategy: "", Metric: "ppl", ID: "2", Value: 2, Prompt: "p2", Response: "Welt"},
		{Teacher: "b", Language: "de", Strategy: "", Metric: "ppl", ID: "3", Value: math.NaN(), Prompt: "p3", Response: "nichts"},
		{Teacher: "a", Language: "de", Strategy: "respond", Metric: "ppl", ID: "4", Value: 9, Prompt: "p4", Response: "Nadel"},
		{Teacher: "a", Language: "ar", Strategy: "respond", Metric: "len", ID: "5", Value: 1, Prompt: "p5", Response: "مرحبا"},
		{Teacher: "a", Language: "ar", Strategy: "respond", Metric: "len", ID: "6", Value: 3, Prompt: "p6", Response: "عالم"},
	}
	s := newExampleSet(ex, []store.MetricAggregate{{Metric: "ppl", Direction: "lower"}, {Metric: "len", Direction: "higher"}})
	if d := cmp.Diff([4][]string{{"a", "b"}, {"ar", "de"}, {"", "respond"}, {"len", "ppl"}}, s.lists); d != "" {
		t.Errorf("filter lists (-want +got):\n%s", d)
	}
	cells := func(p *ExamplePage) (out []string) {
		for _, c := range p.Cells {
			ids := ""
			for _, it := range c.Items {
				ids += it.ID
			}
			out = append(out, c.Metric+"/"+c.Language+"/"+c.Teacher+"/"+c.Strategy+":"+ids)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    ExampleQuery
		want []string
	}{
		{"all, best first", ExampleQuery{}, []string{"len/ar/a/respond:65", "ppl/de/a/respond:4", "ppl/de/b/:213"}},
		{"worst first", ExampleQuery{Order: "worst"}, []string{"len/ar/a/respond:56", "ppl/de/a/respond:4", "ppl/de/b/:123"}},
		{"ascending", ExampleQuery{Order: "asc"}, []string{"len/ar/a/respond:56", "ppl/de/a/respond:4", "ppl/de/b/:213"}},
		{"unsplit strategy", ExampleQuery{Strategy: str("")}, []string{"ppl/de/b/:213"}},
		{"teacher and language", ExampleQuery{Teacher: str("a"), Language: str("de")}, []string{"ppl/de/a/respond:4"}},
		{"search, case-insensitive", ExampleQuery{Search: "NADEL"}, []string{"ppl/de/a/respond:4"}},
		{"a page of cells", ExampleQuery{From: 1, Count: 1}, []string{"ppl/de/a/respond:4"}},
		{"one shown per cell", ExampleQuery{Shown: 1}, []string{"len/ar/a/respond:6", "ppl/de/a/respond:4", "ppl/de/b/:2"}},
	} {
		if tc.q.Shown == 0 {
			tc.q.Shown = 5
		}
		p := s.query(tc.q)
		if d := cmp.Diff(tc.want, cells(p)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
	p := s.query(ExampleQuery{Cell: &ExampleCell{Metric: "ppl", Teacher: "b", Language: "de", Strategy: ""}, From: 1, Count: 5})
	if len(p.Items) != 2 || p.Items[0].ID != "1" || p.Items[1].Value != nil || p.Total != 6 || p.Matched != 6 || p.CellsTotal != 3 {
		t.Errorf("a cell's second page: %+v", p)
	}
}

// TestCellsAndBudget: progress per cell from the units' states, completeness
// carried into the ranking rows, and spend per teacher against the plan and
// the caps.
func TestCellsAndBudget(t *testing.T) {
	cap, tcap := 10.0, 2.0
	p := &engine.Prepared{Exp: &spec.Experiment{BudgetUSD: &cap}, Plan: &plan.Plan{Units: []*plan.Unit{
		{Key: "g1", Stage: plan.Generate, Teacher: "a", Language: "de", Requests: 100, EstCostUSD: 1, EstInputTokens: 10, EstOutputTokens: 20},
		{Key: "m1", Stage: plan.Metrics, Teacher: "a", Language: "de"},
		{Key: "g2", Stage: plan.Generate, Teacher: "b", Language: "de", Requests: 50, EstCostUSD: 0.5},
		{Key: "m2", Stage: plan.Metrics, Teacher: "b", Language: "de"},
		{Key: "s", Stage: plan.Score},
	}}, Teachers: []plan.TeacherRef{{Name: "a", Spec: &spec.Teacher{Limits: spec.Limits{BudgetUSD: &tcap}}}, {Name: "b", Spec: &spec.Teacher{}}, {Name: "ctl", Control: true}}}
	cs, complete := cells(p, []store.Unit{{Key: "g1", State: store.Done}, {Key: "m1", State: store.Done}, {Key: "g2", State: store.Done}, {Key: "m2", State: store.Failed}})
	if len(cs) != 2 || !cs[0].Complete || cs[1].Complete || cs[1].Failed != 1 || cs[1].Stages[1] != (StageCount{Stage: "metrics", Failed: 1, Total: 1}) {
		t.Errorf("cells: %+v", cs)
	}
	rows := markComplete([]RankRow{{Teacher: "a"}, {Teacher: "b"}, {Teacher: "b", Language: "de"}}, complete, cs)
	if !rows[0].Complete || rows[1].Complete || rows[2].Complete {
		t.Errorf("ranking rows: %+v", rows)
	}
	b := budget(p, &store.Summary{Cells: []store.CellSummary{
		{Teacher: "a", Language: "de", Examples: 40, Failures: 2, Retrying: 3, CostUSD: 0.25, InputTokens: 4, OutputTokens: 8, CachedCalls: 5},
		{Teacher: "a", Language: "de", Strategy: "x", Examples: 10, CostUSD: 0.25},
	}, Total: store.CellSummary{CostUSD: 0.5}})
	want := Budget{CapUSD: &cap, SpentUSD: 0.5, Teachers: []TeacherBudget{
		{Teacher: "a", CapUSD: &tcap, SpentUSD: 0.5, PlannedUSD: 1, Requests: 52, PlannedRequests: 100, CachedCalls: 5, InputTokens: 4, OutputTokens: 8, PlannedIn: 10, PlannedOut: 20},
		{Teacher: "b", PlannedUSD: 0.5, PlannedRequests: 50},
		{Teacher: "ctl"},
	}}
	if d := cmp.Diff(want, b); d != "" {
		t.Errorf("budget (-want +got):\n%s", d)
	}
}
