package screening

import (
	"fmt"
	"testing"
)

// BenchmarkScreening runs the reference study (Reference) and variants of
// it through the screening and reports, per setting, the share of
// languages whose true best teacher survived (best-survives), the share
// of studies where it survived in all six (all-survive) and the mean and
// worst share of the full generation cost spent (cost-share, cost-max).
// The figures in docs/method.md §9.4 come from
//
//	nice go test ./core/screening -run '^$' -bench Screening -benchtime 1x
//
// (1,000 studies per setting; -short runs 100).
func BenchmarkScreening(b *testing.B) {
	reps := 1000
	if testing.Short() {
		reps = 100
	}
	type setting struct {
		name   string
		model  func(Model) Model
		rule   Settings
		stages []int
	}
	ref := func(m Model) Model { return m }
	noise := func(k float64) func(Model) Model {
		return func(m Model) Model { m.Noise *= k; return m }
	}
	settings := []setting{
		{"reference/racing/500-2000", ref, Settings{}, []int{500, 2000}},
		{"reference/racing/300-1000-3000", ref, Settings{}, []int{300, 1000, 3000}},
		{"reference/racing-minkeep2/500-2000", ref, Settings{MinKeep: 2}, []int{500, 2000}},
		{"reference/racing-overall/500-2000", ref, Settings{Scope: Overall}, []int{500, 2000}},
		{"reference/halving/500-2000", ref, Settings{Rule: Halving}, []int{500, 2000}},
		{"reference/halving/300-1000-3000", ref, Settings{Rule: Halving}, []int{300, 1000, 3000}},
		{"heavy-tails/racing/500-2000", func(m Model) Model { m.Tail = "t3"; return m }, Settings{}, []int{500, 2000}},
		{"judge-only-noise3.2/racing/500-2000", func(m Model) Model { m.Noise = 3.2; return m }, Settings{}, []int{500, 2000}},
		{"close-teachers/racing/500-2000", func(m Model) Model { m.TeacherSD, m.InteractionSD = 0.15, 0.1; return m }, Settings{}, []int{500, 2000}},
	}
	for _, k := range []float64{2, 4, 8, 16} {
		settings = append(settings, setting{fmt.Sprintf("noise-x%g/racing/500-2000", k), noise(k), Settings{}, []int{500, 2000}})
	}
	for _, st := range settings {
		b.Run(st.name, func(b *testing.B) {
			var r SimResult
			for range b.N {
				r = Simulate(SimConfig{Settings: st.rule, Stages: st.stages, Full: 10500, Reps: reps, Seed: 1}, st.model(Reference()))
			}
			b.ReportMetric(r.BestSurvives, "best-survives")
			b.ReportMetric(r.AllBestSurvive, "all-survive")
			b.ReportMetric(r.CostShare, "cost-share")
			b.ReportMetric(r.CostShareMax, "cost-max")
		})
	}
}
