package score_test

import (
	"math"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/score/scoretest"
)

// Two teachers, one language, three seeds, intrinsic only (α = 1, one metric) so that
// the per-seed PG values are known: z pooled over the 6 units of values 1..6 (mean 3.5,
// population SD √(35/12)). Teacher T1 has 4, 5, 6; T2 has 1, 2, 3.
func TestSeedTIntervalAndPairedTest(t *testing.T) {
	st := &score.Study{}
	for i, v := range []float64{4, 5, 6} {
		st.Metrics = append(st.Metrics, score.MetricRecord{Teacher: "T1", Language: "de", Seed: i + 1, Metric: "judge", Value: v, Direction: score.Higher})
	}
	for i, v := range []float64{1, 2, 3} {
		st.Metrics = append(st.Metrics, score.MetricRecord{Teacher: "T2", Language: "de", Seed: i + 1, Metric: "judge", Value: v, Direction: score.Higher})
	}
	s := score.DefaultSettings()
	s.Alpha = 1
	res, err := score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	sd := math.Sqrt(35.0 / 12)
	c, _ := res.Cell("T1", "de")
	// T1's z-scores are (4−3.5)/sd, (5−3.5)/sd, (6−3.5)/sd: mean 1.5/sd, sample SD 1/sd.
	// t(0.975, 2) = 4.302652729749464, so the half-width is 4.3026527/(sd·√3).
	half := 4.302652729749464 / (sd * math.Sqrt(3))
	if c.CI == nil || c.CI.Method != "t over seeds" || math.Abs(c.CI.Lo-(1.5/sd-half)) > 1e-9 || math.Abs(c.CI.Hi-(1.5/sd+half)) > 1e-9 {
		t.Fatalf("T1 CI = %+v, want [%v, %v] by t over seeds", c.CI, 1.5/sd-half, 1.5/sd+half)
	}
	// The paired differences are all exactly 3/sd: a constant gap, distinguishable.
	c2, _ := res.Cell("T2", "de")
	if c2.Standing != score.StandingWorse || !strings.Contains(c2.Test, "paired t") {
		t.Errorf("T2 standing %q by %q, want worse by paired t", c2.Standing, c2.Test)
	}
	if res.Teachers[0].Teacher != "T1" || res.Teachers[0].SeedCI == nil {
		t.Errorf("teacher table = %+v", res.Teachers)
	}
}

func TestIndistinguishableWhenNoisy(t *testing.T) {
	st := &score.Study{}
	// The gap between teachers (mean 0.1) is small against the seed-to-seed swings.
	a := []float64{5, 1, 4}
	b := []float64{4.8, 1.5, 3.4}
	for i := range a {
		st.Metrics = append(st.Metrics,
			score.MetricRecord{Teacher: "A", Language: "ja", Seed: i, Metric: "judge", Value: a[i], Direction: score.Higher},
			score.MetricRecord{Teacher: "B", Language: "ja", Seed: i, Metric: "judge", Value: b[i], Direction: score.Higher})
	}
	s := score.DefaultSettings()
	s.Alpha = 1
	res, err := score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Teachers[1].Standing != score.StandingIndistinguishable {
		t.Errorf("B standing %q (%s), want indistinguishable", res.Teachers[1].Standing, res.Teachers[1].Test)
	}
}

func TestBootstrapDeterministicAndSensible(t *testing.T) {
	cfg := scoretest.Config{Teachers: 4, Languages: []string{"ar", "de"}, Seeds: []int{1}, PerExample: 200, Seed: 3}
	st := scoretest.Study(cfg)
	s := score.DefaultSettings()
	s.Bootstrap = 300
	r1, err := score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := score.Compute(st, s)
	s.Seed = 99
	r3, _ := score.Compute(st, s)
	for i, c := range r1.Cells {
		if c.CI == nil || c.CI.Method != "bootstrap over examples" || c.CI.N != 300 {
			t.Fatalf("%s/%s CI = %+v, want a 300-resample bootstrap", c.Teacher, c.Language, c.CI)
		}
		if *c.CI != *r2.Cells[i].CI {
			t.Errorf("same seed, different CI: %+v vs %+v", c.CI, r2.Cells[i].CI)
		}
		if *c.CI == *r3.Cells[i].CI {
			t.Errorf("different seed, identical CI %+v: the RNG seed is not used", c.CI)
		}
		if !(c.CI.Lo < c.PG && c.PG < c.CI.Hi) {
			t.Errorf("%s/%s: PG %v outside its bootstrap CI %+v", c.Teacher, c.Language, c.PG, c.CI)
		}
	}
	// Teacher 0 is clearly best and teacher 3 clearly worst in the synthetic data.
	if r1.Teachers[0].Teacher != scoretest.TeacherName(0) {
		t.Errorf("best = %s", r1.Teachers[0].Teacher)
	}
	last := r1.Teachers[len(r1.Teachers)-1]
	if last.Standing != score.StandingWorse || last.Test != "bootstrap difference" {
		t.Errorf("worst teacher standing %q by %q, want worse by bootstrap difference", last.Standing, last.Test)
	}
	// Constant per-example values carry no sampling noise: zero-width interval.
	for i := range st.Metrics {
		for j := range st.Metrics[i].PerExample {
			st.Metrics[i].PerExample[j] = st.Metrics[i].Value
		}
	}
	s.Alpha = 1
	r4, _ := score.Compute(st, s)
	if c := r4.Cells[0]; math.Abs(c.CI.Hi-c.CI.Lo) > 1e-12 {
		t.Errorf("constant examples gave CI width %v", c.CI.Hi-c.CI.Lo)
	}
}

func TestDiagnostics(t *testing.T) {
	anchors := func(ref, refSE float64) []score.BenchmarkRecord {
		return []score.BenchmarkRecord{
			{Role: score.RoleBase, Language: "id", Student: "olmo", Benchmark: "mgsm", Score: 0.30, Stderr: refSE},
			{Role: score.RoleReference, Language: "id", Student: "olmo", Benchmark: "mgsm", Score: ref, Stderr: refSE},
		}
	}
	students := func(a, b float64) []score.BenchmarkRecord {
		return []score.BenchmarkRecord{
			{Role: score.RoleStudent, Teacher: "A", Language: "id", Student: "olmo", Benchmark: "mgsm", Score: a},
			{Role: score.RoleStudent, Teacher: "B", Language: "id", Student: "olmo", Benchmark: "mgsm", Score: b},
		}
	}
	metrics := func(a, b float64) []score.MetricRecord {
		return []score.MetricRecord{
			{Teacher: "A", Language: "id", Metric: "judge", Value: a, Direction: score.Higher},
			{Teacher: "B", Language: "id", Metric: "judge", Value: b, Direction: score.Higher},
		}
	}
	tests := []struct {
		name string
		st   score.Study
		want string // kind expected; "" = none of the anchor kinds
	}{
		{"healthy", score.Study{Metrics: metrics(3, 4), Benchmarks: append(anchors(0.5, 0.01), students(0.4, 0.45)...)}, ""},
		{"reference below base", score.Study{Metrics: metrics(3, 4), Benchmarks: append(anchors(0.25, 0.01), students(0.4, 0.45)...)}, score.KindReferenceNotAboveBase},
		{"gap within noise", score.Study{Metrics: metrics(3, 4), Benchmarks: append(anchors(0.32, 0.02), students(0.4, 0.45)...)}, score.KindAnchorGapWithinNoise},
		{"constant benchmark", score.Study{Metrics: metrics(3, 4), Benchmarks: append(anchors(0.5, 0.01), students(0.4, 0.4)...)}, score.KindConstantBenchmark},
		{"metric without spread", score.Study{Metrics: metrics(3, 3), Benchmarks: append(anchors(0.5, 0.01), students(0.4, 0.45)...)}, score.KindMetricNoSpread},
		{"missing anchor", score.Study{Metrics: metrics(3, 4), Benchmarks: students(0.4, 0.45)}, score.KindMissingAnchor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := score.Compute(&tc.st, score.DefaultSettings())
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, d := range res.Diagnostics {
				kinds = append(kinds, d.Kind)
				if d.Message == "" {
					t.Errorf("diagnostic %s has no message", d.Kind)
				}
			}
			found := false
			for _, k := range kinds {
				if k == tc.want {
					found = true
				}
				if tc.want == "" && k != score.KindIncompleteCell {
					t.Errorf("unexpected diagnostic %s", k)
				}
			}
			if tc.want != "" && !found {
				t.Errorf("diagnostics %v lack %s", kinds, tc.want)
			}
		})
	}
}

func TestContradictoryDataFails(t *testing.T) {
	tests := []struct {
		name string
		st   score.Study
		want string
	}{
		{"two directions", score.Study{Metrics: []score.MetricRecord{
			{Teacher: "A", Language: "de", Metric: "judge", Value: 1, Direction: score.Higher},
			{Teacher: "B", Language: "de", Metric: "judge", Value: 1, Direction: score.Lower}}}, "has direction"},
		{"duplicate metric", score.Study{Metrics: []score.MetricRecord{
			{Teacher: "A", Language: "de", Metric: "judge", Value: 1, Direction: score.Higher},
			{Teacher: "A", Language: "de", Metric: "judge", Value: 2, Direction: score.Higher}}}, "is given twice"},
		{"empty", score.Study{}, "has no metric or student benchmark records"},
		{"negative perplexity", score.Study{Metrics: []score.MetricRecord{
			{Teacher: "A", Language: "de", Metric: "ppl", Value: -2, Direction: score.Lower}}}, "has a negative value"},
	}
	for _, tc := range tests {
		_, err := score.Compute(&tc.st, score.DefaultSettings())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestStrategiesAndControls(t *testing.T) {
	st := scoretest.Study(scoretest.Config{Teachers: 3, Languages: []string{"cs"}, Strategies: []string{"generate", "respond", "translate"}, Controls: true, Seed: 5})
	res, err := score.Compute(st, score.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ByStrategy) != 9 || len(res.Cells) != 3 {
		t.Fatalf("cells %d, strategy cells %d; want 3 and 9", len(res.Cells), len(res.ByStrategy))
	}
	for _, c := range res.Cells {
		if c.Teacher == "seeds" || c.Teacher == "scrambled" {
			t.Errorf("control %s entered the ranking", c.Teacher)
		}
	}
	if len(res.Controls) != 2 {
		t.Errorf("control cells = %d, want 2 (control and its reference)", len(res.Controls))
	}
}

// The bootstrap drawn on many goroutines must equal the sequential draw bit for bit, for
// per-example metrics, standard-error-only metrics, both standardizations and several
// strategies, so that a report does not depend on the machine's cores.
func TestBootstrapParallelEqualsSequential(t *testing.T) {
	st := scoretest.Study(scoretest.Config{Teachers: 5, Languages: []string{"ar", "de", "ja"}, Strategies: []string{"generate", "respond"},
		Seeds: []int{1, 2, 3}, PerExample: 150, Seed: 11})
	// Some metrics carry only a standard error, drawn from a normal.
	for i := range st.Metrics {
		if m := &st.Metrics[i]; i%5 == 0 && len(m.PerExample) > 0 {
			m.Stderr, m.PerExample = 0.1, nil
		}
	}
	for _, std := range []string{score.Published, score.Restandardized} {
		s := score.DefaultSettings()
		s.Bootstrap, s.Standardize = 450, std // not a multiple of the block size
		restore := score.SetBootWorkers(1)
		seq, err := score.Compute(st, s)
		restore()
		if err != nil {
			t.Fatal(err)
		}
		restore = score.SetBootWorkers(7)
		par, err := score.Compute(st, s)
		restore()
		if err != nil {
			t.Fatal(err)
		}
		for _, cells := range [][2][]score.CellScore{{seq.Cells, par.Cells}, {seq.ByStrategy, par.ByStrategy}} {
			if len(cells[0]) != len(cells[1]) || len(cells[0]) == 0 {
				t.Fatalf("%s: %d vs %d cells", std, len(cells[0]), len(cells[1]))
			}
			for i, a := range cells[0] {
				b := cells[1][i]
				if a.BootCI == nil || b.BootCI == nil || a.BootCI.N != 450 {
					t.Fatalf("%s: %s/%s/%s has no 450-resample bootstrap: %+v", std, a.Teacher, a.Language, a.Strategy, a.BootCI)
				}
				if math.Float64bits(a.BootCI.Lo) != math.Float64bits(b.BootCI.Lo) || math.Float64bits(a.BootCI.Hi) != math.Float64bits(b.BootCI.Hi) {
					t.Errorf("%s: %s/%s/%s: sequential CI %+v, parallel %+v", std, a.Teacher, a.Language, a.Strategy, *a.BootCI, *b.BootCI)
				}
				if a.Standing != b.Standing || a.Test != b.Test {
					t.Errorf("%s: %s/%s/%s: standing %s (%s) vs %s (%s)", std, a.Teacher, a.Language, a.Strategy, a.Standing, a.Test, b.Standing, b.Test)
				}
			}
		}
		for i, a := range seq.Teachers {
			b := par.Teachers[i]
			if a.Teacher != b.Teacher || a.BootCI == nil || b.BootCI == nil || *a.BootCI != *b.BootCI {
				t.Errorf("%s: teacher %s CI %+v vs %s %+v", std, a.Teacher, a.BootCI, b.Teacher, b.BootCI)
			}
		}
	}
}
