package spec

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Screening is the `screening {}` block (docs/method.md §9): generate a
// prefix of every cell first, drop the teachers that are clearly behind,
// spend the rest on the others. nil when the spec has no such block.
type Screening struct {
	// Stages are the examples per cell scored at each stage, increasing
	// and below experiment.examples_per_cell, which is the last stage.
	Stages     []int
	Score      string   // intrinsic (default) | metrics
	Metrics    []string // score = "metrics": NAME or NAME.VALUE selectors
	Rule       string   // racing (default) | halving
	Scope      string   // language (default) | overall
	MinKeep    int      // default 1
	Keep       float64  // halving: share kept per stage, default 0.5
	Confidence float64  // racing: interval level, default 0.95
	// Enabled false lets a screened run go on as a full one: every cell,
	// dropped or not, generates the rest of its data.
	Enabled bool
	// AssumeNoise is the per-example noise, in units of the spread of
	// the teachers' cell scores, that plan's expected cost assumes.
	AssumeNoise float64

	DeclRange hcl.Range
	Ranges    map[string]hcl.Range
	reader    *reader
}

var screeningSpec = &blockSpec{attrs: []attrSpec{
	{name: "stages", ty: cty.List(cty.Number), required: true},
	{name: "score", ty: cty.String, def: cty.StringVal("intrinsic")},
	{name: "metrics", ty: cty.List(cty.String)},
	{name: "rule", ty: cty.String, def: cty.StringVal("racing")},
	{name: "scope", ty: cty.String, def: cty.StringVal("language")},
	{name: "min_keep", ty: cty.Number, def: cty.NumberIntVal(1)},
	{name: "keep", ty: cty.Number, def: cty.NumberFloatVal(0.5)},
	{name: "confidence", ty: cty.Number, def: cty.NumberFloatVal(0.95)},
	{name: "enabled", ty: cty.Bool, def: cty.True},
	{name: "assume_noise", ty: cty.Number, def: cty.NumberFloatVal(DefaultAssumeNoise)},
}}

// DefaultAssumeNoise is the reference study's per-example noise relative to
// the spread of teacher effects (docs/method.md §9.3).
const DefaultAssumeNoise = 1.5

func (l *loader) evalScreening(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, screeningSpec, ctx)
	r := newReader(ev, &l.diags)
	s := &Screening{DeclRange: n.block.DefRange, Ranges: r.ranges(), reader: r}
	for i, f := range r.numList("stages") {
		v := int(f)
		switch {
		case float64(v) != f || v < 2:
			l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid stage size",
				Detail: fmt.Sprintf("Each stage is a whole number of examples per cell, at least 2 (an interval needs two examples); element %d is %g.", i, f), Subject: r.elemRange("stages", i).Ptr()})
		case len(s.Stages) > 0 && v <= s.Stages[len(s.Stages)-1]:
			l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Stages must increase",
				Detail: fmt.Sprintf("Each stage's data is a prefix of the next stage's, so stages must grow; element %d (%d) is not above %d.", i, v, s.Stages[len(s.Stages)-1]), Subject: r.elemRange("stages", i).Ptr()})
		}
		s.Stages = append(s.Stages, v)
	}
	s.Score = r.oneOf("score", "screening score", "intrinsic", "metrics")
	s.Metrics = r.strList("metrics")
	switch {
	case s.Score == "metrics" && len(s.Metrics) == 0:
		r.errorf("score", "Missing metrics", "score = \"metrics\" decides on a metric set: list it, e.g. metrics = [\"judge\"].")
	case s.Score != "metrics" && r.has("metrics"):
		r.errorf("metrics", "metrics without score = \"metrics\"", "metrics is the set a stage decides on when score = \"metrics\"; set that, or remove metrics.")
	}
	s.Rule = r.oneOf("rule", "screening rule", "racing", "halving")
	s.Scope = r.oneOf("scope", "screening scope", "language", "overall")
	s.MinKeep = r.positiveInt("min_keep")
	s.Keep = r.num("keep")
	if s.Keep <= 0 || s.Keep >= 1 {
		r.errorf("keep", "Invalid keep", "keep is the share of teachers halving keeps at each stage and must be in (0, 1), e.g. 0.5; got %g.", s.Keep)
	}
	if r.has("keep") && s.Rule != "halving" {
		r.errorf("keep", "keep without rule = \"halving\"", "keep is used by rule = \"halving\" only; racing decides by intervals (see confidence).")
	}
	s.Confidence = r.num("confidence")
	if s.Confidence <= 0 || s.Confidence >= 1 {
		r.errorf("confidence", "Invalid confidence", "confidence must be in (0, 1), e.g. 0.95; got %g.", s.Confidence)
	}
	s.Enabled = r.bool("enabled")
	s.AssumeNoise = r.num("assume_noise")
	if s.AssumeNoise < 0 {
		r.errorf("assume_noise", "Invalid assume_noise", "assume_noise is a standard deviation ratio and cannot be negative; got %g.", s.AssumeNoise)
	}
	l.e.Screening = s
}

// validateScreening checks what needs the other blocks: stage sizes below
// the full size and the metric set.
func (l *loader) validateScreening(metrics []string, unknown func(rng hcl.Range, what, name string, known []string)) {
	s := l.e.Screening
	if s == nil || s.reader == nil {
		return
	}
	r := s.reader
	if n := len(s.Stages); n > 0 && s.Stages[n-1] >= l.e.ExamplesPerCell {
		r.errorf("stages", "Stage as large as the full run", "The last stage (%d examples per cell) must be below experiment.examples_per_cell (%d), which is the final stage; remove it or raise examples_per_cell.", s.Stages[n-1], l.e.ExamplesPerCell)
	}
	for i, m := range s.Metrics {
		if base, _, _ := strings.Cut(m, "."); !contains(metrics, base) {
			unknown(r.elemRange("metrics", i), "metric", m, metrics)
		}
	}
	if s.MinKeep > len(l.e.Teachers)+len(l.e.Controls) && len(l.e.Teachers) > 0 {
		r.errorf("min_keep", "min_keep above the number of teachers", "min_keep = %d keeps more teachers than the experiment has (%d): screening could never drop one.", s.MinKeep, len(l.e.Teachers)+len(l.e.Controls))
	}
}
