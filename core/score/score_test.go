package score

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const tol = 1e-9

func near(a, b float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

func load(t *testing.T, name string) *Study {
	t.Helper()
	st, err := ImportFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The hand-made study (testdata/hand.jsonl), worked out by hand:
//
// Intrinsic, pooled over the 4 cells with the population SD:
//
//	diversity.prompt: A/x .6, A/y .4, B/x .2, B/y .8; mean .5, SD √.05 → z = +1/√5, −1/√5, −3/√5, +3/√5
//	ppl: −log(1+PPL) = −1, −2, −3, −4; mean −2.5, SD √1.25 → z = +3/√5, +1/√5, −1/√5, −3/√5
//	Intrinsic (published) = mean z: A/x 2/√5, A/y 0, B/x −2/√5, B/y 0
//	Restandardized: mean 0, SD √(2·.8/4) = √.4 → A/x √2, A/y 0, B/x −√2, B/y 0
//
// Extrinsic, anchors x: b1 .30→.50, b2 .20→.60; y: b1 .40→.30 (reference below base!), b2 .10→.50
//
//	A/x students .40, .50: ratio_then_mean (.1/.2 + .3/.4)/2 = .625;  mean_then_ratio (.45−.25)/(.55−.25) = 2/3
//	B/x students .35, .20: (.25 + 0)/2 = .125;                         (.275−.25)/.3 = 1/12
//	A/y students .35, .30: (−.05/−.1 + .2/.4)/2 = .5;                  (.325−.25)/(.40−.25) = .5
//	B/y students .45, .10: (.05/−.1 + 0)/2 = −.25;                     (.275−.25)/.15 = 1/6
//
// B/y beats A/y on b1 (.45 > .35) yet gets the lower PGR there: the pathology that must be flagged.
func TestHandStudy(t *testing.T) {
	s5 := math.Sqrt(5)
	inPub := map[string]float64{"A/x": 2 / s5, "A/y": 0, "B/x": -2 / s5, "B/y": 0}
	inRe := map[string]float64{"A/x": math.Sqrt2, "A/y": 0, "B/x": -math.Sqrt2, "B/y": 0}
	exRM := map[string]float64{"A/x": .625, "A/y": .5, "B/x": .125, "B/y": -.25}
	exMR := map[string]float64{"A/x": 2.0 / 3, "A/y": .5, "B/x": 1.0 / 12, "B/y": 1.0 / 6}
	tests := []struct {
		name      string
		pgr, std  string
		alpha     float64
		in, ex    map[string]float64
		wantCells map[string]float64 // hand-computed PG per cell
	}{
		{"alpha0 ratio", RatioThenMean, Published, 0, inPub, exRM, map[string]float64{"A/x": .625, "A/y": .5, "B/x": .125, "B/y": -.25}},
		{"alpha1 ratio", RatioThenMean, Published, 1, inPub, exRM, map[string]float64{"A/x": 2 / s5, "A/y": 0, "B/x": -2 / s5, "B/y": 0}},
		{"alpha.5 ratio", RatioThenMean, Published, .5, inPub, exRM, map[string]float64{"A/x": 1/s5 + .3125, "A/y": .25, "B/x": -1/s5 + .0625, "B/y": -.125}},
		{"alpha.5 meanratio", MeanThenRatio, Published, .5, inPub, exMR, map[string]float64{"A/x": 1/s5 + 1.0/3, "A/y": .25, "B/x": -1/s5 + 1.0/24, "B/y": 1.0 / 12}},
		{"alpha0 meanratio", MeanThenRatio, Published, 0, inPub, exMR, map[string]float64{"A/x": 2.0 / 3, "A/y": .5, "B/x": 1.0 / 12, "B/y": 1.0 / 6}},
		{"alpha1 restandardized", RatioThenMean, Restandardized, 1, inRe, exRM, map[string]float64{"A/x": math.Sqrt2, "A/y": 0, "B/x": -math.Sqrt2, "B/y": 0}},
		{"alpha.5 restandardized", RatioThenMean, Restandardized, .5, inRe, exRM, map[string]float64{"A/x": math.Sqrt2/2 + .3125, "A/y": .25, "B/x": -math.Sqrt2/2 + .0625, "B/y": -.125}},
	}
	for _, format := range []string{"hand.jsonl", "hand.csv"} {
		st := load(t, format)
		for _, tc := range tests {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				s := DefaultSettings()
				s.Alpha, s.PGR, s.Standardize = tc.alpha, tc.pgr, tc.std
				res, err := Compute(st, s)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Cells) != 4 {
					t.Fatalf("got %d cells, want 4", len(res.Cells))
				}
				teacher := map[string][]float64{}
				for _, c := range res.Cells {
					k := c.Teacher + "/" + c.Language
					if !near(c.Intrinsic, tc.in[k]) || !near(c.Extrinsic, tc.ex[k]) || !near(c.PG, tc.wantCells[k]) {
						t.Errorf("%s: intrinsic %.12g extrinsic %.12g PG %.12g; want %.12g %.12g %.12g",
							k, c.Intrinsic, c.Extrinsic, c.PG, tc.in[k], tc.ex[k], tc.wantCells[k])
					}
					teacher[c.Teacher] = append(teacher[c.Teacher], tc.wantCells[k])
				}
				for _, ts := range res.Teachers {
					want := (teacher[ts.Teacher][0] + teacher[ts.Teacher][1]) / 2
					if !near(ts.PG, want) {
						t.Errorf("teacher %s PG %.12g, want %.12g", ts.Teacher, ts.PG, want)
					}
				}
				if res.Teachers[0].Teacher != "A" || res.Teachers[0].Standing != StandingBest {
					t.Errorf("best teacher = %+v, want A", res.Teachers[0])
				}
				// One seed and no per-example data: nothing can be said about B vs A.
				if res.Teachers[1].Standing != StandingUnknown {
					t.Errorf("B standing = %q, want %q", res.Teachers[1].Standing, StandingUnknown)
				}
				// TeacherPGAt must agree with a fresh computation at that alpha.
				if got := res.TeacherPGAt(tc.alpha)["A"]; !near(got, res.Teachers[0].PG) {
					t.Errorf("TeacherPGAt(%v)[A] = %v, want %v", tc.alpha, got, res.Teachers[0].PG)
				}
				var flagged []string
				for _, d := range res.Diagnostics {
					if d.Kind == KindReferenceNotAboveBase {
						flagged = append(flagged, d.Language+"/"+d.Benchmark)
						if !strings.Contains(d.Message, "not above the base") {
							t.Errorf("unclear message: %s", d.Message)
						}
					}
				}
				if diff := cmp.Diff([]string{"y/b1"}, flagged); diff != "" {
					t.Errorf("reference-below-base flags (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestPerBenchmarkPGRAndMetricTable(t *testing.T) {
	res, err := Compute(load(t, "hand.jsonl"), DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	c, ok := res.Cell("B", "y")
	if !ok {
		t.Fatal("no B/y cell")
	}
	if !near(c.PGR["b1"], -.5) || !near(c.PGR["b2"], 0) {
		t.Errorf("B/y per-benchmark PGR = %v, want b1 −.5, b2 0", c.PGR)
	}
	if !near(c.Raw["length.response"], 40) {
		t.Errorf("raw length.response = %v, want 40 (unscored metrics are still reported)", c.Raw["length.response"])
	}
	if _, in := c.Z["length.response"]; in {
		t.Error("a direction-none metric must not get a z-score")
	}
	got := map[string]string{}
	for _, m := range res.Metrics {
		got[m.Metric] = m.Transform
		if m.Metric == "ppl" && (!near(m.Mean, -2.5) || !near(m.SD, math.Sqrt(1.25))) {
			t.Errorf("ppl pooling mean %v sd %v, want −2.5, √1.25", m.Mean, m.SD)
		}
	}
	want := map[string]string{"diversity.prompt": "x", "ppl": "-log(1+x)", "length.response": "x"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metric transforms (-want +got):\n%s", diff)
	}
}

func TestMetricSelection(t *testing.T) {
	st := load(t, "hand.jsonl")
	tests := []struct {
		metrics []string
		wantErr string
		inA     float64 // Intrinsic of A/x
	}{
		{[]string{"diversity", "ppl"}, "", 2 / math.Sqrt(5)},
		{[]string{"ppl"}, "", 3 / math.Sqrt(5)},
		{[]string{"diversity.prompt"}, "", 1 / math.Sqrt(5)},
		{[]string{"judge"}, `score.metrics names "judge" but no metric record matches it`, 0},
		{[]string{"length"}, `direction is "none"`, 0},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.metrics, ","), func(t *testing.T) {
			s := DefaultSettings()
			s.Metrics, s.Alpha = tc.metrics, 1
			res, err := Compute(st, s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, _ := res.Cell("A", "x")
			if !near(c.Intrinsic, tc.inA) {
				t.Errorf("A/x intrinsic = %v, want %v", c.Intrinsic, tc.inA)
			}
		})
	}
}

func TestImportFormatsAgree(t *testing.T) {
	j, c := load(t, "hand.jsonl"), load(t, "hand.csv")
	if diff := cmp.Diff(j, c, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("JSONL and CSV imports differ (-jsonl +csv):\n%s", diff)
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, j); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSONL(&buf, "roundtrip")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(j, back, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("WriteJSONL/ReadJSONL round trip differs:\n%s", diff)
	}
}

func TestImportErrors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"missing_direction.jsonl", "missing_direction.jsonl:2: metric record is missing required field(s) direction"},
		{"unknown_type.jsonl", `unknown_type.jsonl:3: type "metrik" is unknown`},
		{"unknown_field.jsonl", `unknown_field.jsonl:1: invalid JSON record: json: unknown field "colour"`},
		{"student_no_teacher.jsonl", `student_no_teacher.jsonl:1: benchmark record with role "student" needs a "teacher"`},
		{"broken_json.jsonl", "broken_json.jsonl:1: invalid JSON record"},
		{"bad_role.jsonl", `bad_role.jsonl:1: role "teacher" is unknown`},
		{"fractional_seed.jsonl", `fractional_seed.jsonl:1: field "seed" = 1.5 must be a whole number`},
		{"not_a_number.csv", `not_a_number.csv:3: column "value": "abc" is not a number`},
		{"unknown_column.csv", `unknown_column.csv:1: unknown column "colour"`},
		{"no_type_column.csv", `no_type_column.csv:1: the header has no "type" column`},
		{"short_row.csv", "short_row.csv:3: 5 cells but the header has 6 columns"},
		{"bad_direction.csv", `bad_direction.csv:2: direction "sideways" is unknown`},
		{"control_no_caught_by.csv", "control_no_caught_by.csv:2: control record is missing required field(s) caught_by"},
		{"reasons_exceed.jsonl", "reasons_exceed.jsonl:1: the reasons count 3 failures but failures = 2"},
		{"bad_reasons.csv", `bad_reasons.csv:2: column "reasons": "parse_error:2" is not reason=count`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := ImportFile(filepath.Join("testdata", "bad", tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := ImportFile("testdata/hand.txt"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		mod  func(*Settings)
		want string
	}{
		{func(s *Settings) { s.Alpha = 1.5 }, "alpha = 1.5 is outside [0, 1]"},
		{func(s *Settings) { s.PGR = "ratio" }, `pgr = "ratio" is unknown`},
		{func(s *Settings) { s.Standardize = "z" }, `standardize = "z" is unknown`},
		{func(s *Settings) { s.Confidence = 1 }, "confidence = 1 must be strictly between 0 and 1"},
		{func(s *Settings) { s.Bootstrap = -1 }, "bootstrap = -1 must be >= 0"},
		{func(s *Settings) { s.Alphas = []float64{0, 2} }, "alphas[1] = 2 is outside [0, 1]"},
		{func(s *Settings) { s.MinExampleShare = 1.2 }, "min_example_share = 1.2 is outside [0, 1]"},
		{func(s *Settings) { s.MinExamples = -1 }, "min_examples = -1 must be >= 0"},
		{func(s *Settings) {}, ""},
	}
	for _, tc := range tests {
		s := DefaultSettings()
		tc.mod(&s)
		err := s.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("default settings invalid: %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error = %v, want %q", err, tc.want)
		}
	}
}
