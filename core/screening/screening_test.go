package screening

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func cand(t string, mean, half float64) Candidate {
	return Candidate{Teacher: t, Mean: mean, Lo: mean - half, Hi: mean + half, HasCI: true, N: 100}
}

func dropped(vs []Verdict) []string {
	var out []string
	for _, v := range vs {
		if v.Dropped {
			out = append(out, v.Teacher)
		}
	}
	return out
}

func TestRacingDropsOnlyIntervalsBelowTheBest(t *testing.T) {
	vs := Decide(Settings{}, "de", []Candidate{
		cand("c", 0.50, 0.10), // [0.40, 0.60] lies below the best's [0.80, 1.00]
		cand("a", 0.90, 0.10), // best
		cand("b", 0.75, 0.10), // [0.65, 0.85] overlaps
		cand("d", 0.79, 0.005),
		{Teacher: "e", Mean: -3}, // no interval: never dropped by racing
	})
	if got, want := dropped(vs), []string{"d", "c"}; !cmp.Equal(got, want) {
		t.Fatalf("dropped %v, want %v", got, want)
	}
	if vs[0].Teacher != "a" || vs[0].Rank != 1 || vs[len(vs)-1].Teacher != "e" {
		t.Fatalf("order: %+v", vs)
	}
	for _, v := range vs {
		if v.Best != "a" || v.Group != "de" || v.Reason == "" {
			t.Fatalf("verdict lacks its evidence: %+v", v)
		}
	}
	// d's interval [0.785, 0.795] is below a's [0.80, 1.00]: dropped too.
	if vs[1].Teacher != "d" || !vs[1].Dropped {
		t.Fatalf("d: %+v", vs[1])
	}
}

func TestRacingKeepsTheMinimum(t *testing.T) {
	cs := []Candidate{cand("a", 1, 0.01), cand("b", 0.5, 0.01), cand("c", 0.2, 0.01), cand("d", 0.1, 0.01)}
	if got := dropped(Decide(Settings{MinKeep: 1}, "", cs)); !cmp.Equal(got, []string{"b", "c", "d"}) {
		t.Fatalf("min_keep 1: dropped %v", got)
	}
	vs := Decide(Settings{MinKeep: 3}, "", cs)
	if got := dropped(vs); !cmp.Equal(got, []string{"d"}) {
		t.Fatalf("min_keep 3: dropped %v", got)
	}
	if vs[1].Dropped || vs[1].Reason == "" {
		t.Fatalf("b kept by min_keep should say so: %+v", vs[1])
	}
}

func TestHalvingKeepsTheBestShareAndBreaksTiesByName(t *testing.T) {
	cs := []Candidate{cand("e", 0.1, 1), cand("b", 0.5, 1), cand("a", 0.5, 1), cand("d", 0.3, 1), cand("c", 0.9, 1)}
	vs := Decide(Settings{Rule: Halving}, "ja", cs)
	// ceil(5 × 0.5) = 3 kept: c, then a before b (tie on 0.5, by name).
	if got := dropped(vs); !cmp.Equal(got, []string{"d", "e"}) {
		t.Fatalf("dropped %v", got)
	}
	if vs[1].Teacher != "a" || vs[2].Teacher != "b" {
		t.Fatalf("tie order: %v %v", vs[1].Teacher, vs[2].Teacher)
	}
	if got := dropped(Decide(Settings{Rule: Halving, MinKeep: 4}, "ja", cs)); !cmp.Equal(got, []string{"e"}) {
		t.Fatalf("halving with min_keep 4 dropped %v", got)
	}
}

func TestMeanIntervalIsTheTInterval(t *testing.T) {
	c, ok := MeanInterval([]float64{1, 2, 3, 4}, 0.95)
	if !ok || c.Mean != 2.5 || c.N != 4 {
		t.Fatalf("%+v", c)
	}
	// t(3) 97.5 % quantile 3.182446; sd 1.290994; /sqrt(4)
	want := 3.182446305 * 1.290994449 / 2
	if math.Abs((c.Hi-c.Lo)/2-want) > 1e-6 {
		t.Fatalf("half width %v, want %v", (c.Hi-c.Lo)/2, want)
	}
	if _, ok := MeanInterval([]float64{1}, 0.95); ok {
		t.Fatal("one value has no interval")
	}
}

func TestTrackerPerLanguageAndOverall(t *testing.T) {
	teachers, langs := []string{"a", "b", "c"}, []string{"de", "ja"}
	scores := map[Cell]Candidate{
		{"a", "de"}: cand("", 1, 0.1), {"b", "de"}: cand("", 0, 0.1), {"c", "de"}: cand("", 0.95, 0.1),
		{"a", "ja"}: cand("", 0, 0.1), {"b", "ja"}: cand("", 1, 0.1), {"c", "ja"}: cand("", 0.98, 0.1),
	}
	tk := NewTracker(Settings{}, teachers, langs)
	st := tk.Step(500, scores)
	if want := []Cell{{"a", "ja"}, {"b", "de"}}; !cmp.Equal(st.Dropped, want) {
		t.Fatalf("per language dropped %v, want %v", st.Dropped, want)
	}
	if tk.Alive(Cell{"a", "ja"}) || !tk.Alive(Cell{"a", "de"}) {
		t.Fatal("alive cells wrong")
	}
	// The next stage sees only the alive cells; a cell without a score is kept.
	delete(scores, Cell{"c", "de"})
	st = tk.Step(2000, scores)
	if len(st.Dropped) != 0 || len(st.Verdicts) != 4 {
		t.Fatalf("stage 2: %+v", st)
	}
	// Overall: a and b average 0.5 each ± 0.071, c 0.965: a and b dropped everywhere.
	ov := NewTracker(Settings{Scope: Overall}, teachers, langs)
	scores[Cell{"c", "de"}] = cand("", 0.95, 0.1)
	st = ov.Step(500, scores)
	if want := []Cell{{"a", "de"}, {"a", "ja"}, {"b", "de"}, {"b", "ja"}}; !cmp.Equal(st.Dropped, want) {
		t.Fatalf("overall dropped %v, want %v", st.Dropped, want)
	}
	// Overall with min_keep 2: the better of a and b (a, by name) stays.
	ov = NewTracker(Settings{Scope: Overall, MinKeep: 2}, teachers, langs)
	if st = ov.Step(500, scores); len(st.Dropped) != 2 || st.Dropped[0].Teacher != "b" {
		t.Fatalf("overall min_keep 2 dropped %v", st.Dropped)
	}
}

func TestSimulateIsDeterministicAndSane(t *testing.T) {
	m := Reference()
	cfg := SimConfig{Stages: []int{500, 2000}, Full: 10500, Reps: 20, Seed: 7}
	a, b := Simulate(cfg, m), Simulate(cfg, m)
	if !cmp.Equal(a, b) {
		t.Fatalf("two runs differ: %+v %+v", a, b)
	}
	if a.BestSurvives < 0.95 || a.CostShare > 0.4 || a.CostShare < 500.0/10500 {
		t.Fatalf("reference study: %+v", a)
	}
	// Teachers that cannot be told apart at any stage: racing keeps every
	// one, and the run costs what the full run does.
	same := m
	same.TeacherSD, same.InteractionSD = 0, 0
	r := Simulate(cfg, same)
	if r.BestSurvives != 1 || r.CostShare < 0.9 {
		t.Fatalf("indistinguishable teachers: %+v", r)
	}
	// Halving to one teacher with noise that swamps the spread loses the
	// best often: the simulation must be able to say so.
	noisy := m
	noisy.Noise = 50
	h := Simulate(SimConfig{Settings: Settings{Rule: Halving, Keep: 0.2}, Stages: []int{500, 2000}, Full: 10500, Reps: 20, Seed: 7}, noisy)
	if h.BestSurvives > 0.5 {
		t.Fatalf("halving under heavy noise kept the best in %.2f of languages", h.BestSurvives)
	}
}
