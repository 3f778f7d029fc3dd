package spec

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var defaultAlphas = []float64{0, 0.25, 0.5, 0.75, 1}

var scoreSpec = &blockSpec{attrs: []attrSpec{
	{name: "alpha", ty: cty.Number, def: cty.NumberFloatVal(0.5)},
	{name: "metrics", ty: cty.List(cty.String)},
	{name: "pgr", ty: cty.String, def: cty.StringVal("ratio_then_mean")},
	{name: "standardize", ty: cty.String, def: cty.StringVal("published")},
	{name: "confidence", ty: cty.Number, def: cty.NumberFloatVal(0.95)},
	{name: "bootstrap", ty: cty.Number, def: cty.NumberIntVal(1000)},
	{name: "alphas", ty: cty.List(cty.Number)},
	{name: "pca", ty: cty.String, def: cty.StringVal("scored")},
	{name: "components", ty: cty.Number, def: cty.NumberIntVal(0)},
	{name: "min_examples", ty: cty.Number, def: cty.NumberIntVal(DefaultMinExamples)},
	{name: "min_example_share", ty: cty.Number, def: cty.NumberFloatVal(DefaultMinExampleShare)},
}}

// Defaults of the generation-coverage thresholds below which a cell is not ranked.
const (
	DefaultMinExamples     = 5
	DefaultMinExampleShare = 0.5
)

func defaultScore() *Score {
	return &Score{
		Alpha: 0.5, PGR: "ratio_then_mean", Standardize: "published", Confidence: 0.95,
		Bootstrap: 1000, Alphas: append([]float64(nil), defaultAlphas...), Ranges: map[string]hcl.Range{},
		PCA: "scored", MinExamples: DefaultMinExamples, MinExampleShare: DefaultMinExampleShare,
	}
}

func (l *loader) evalScore(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, scoreSpec, ctx)
	r := newReader(ev, &l.diags)
	s := &Score{DeclRange: n.block.DefRange, Ranges: r.ranges()}
	s.Alpha = r.num("alpha")
	if s.Alpha < 0 || s.Alpha > 1 {
		r.errorf("alpha", "Invalid alpha", "alpha weighs intrinsic against extrinsic quality and must be in [0, 1], got %g.", s.Alpha)
	}
	s.Metrics = r.strList("metrics")
	s.PGR = r.oneOf("pgr", "pgr variant", "ratio_then_mean", "mean_then_ratio")
	s.Standardize = r.oneOf("standardize", "standardize mode", "published", "restandardized")
	s.Confidence = r.num("confidence")
	if s.Confidence <= 0 || s.Confidence >= 1 {
		r.errorf("confidence", "Invalid confidence", "confidence must be in (0, 1), e.g. 0.95, got %g.", s.Confidence)
	}
	s.Bootstrap = r.nonNegInt("bootstrap")
	s.Alphas = r.numList("alphas")
	if !r.has("alphas") {
		s.Alphas = append([]float64(nil), defaultAlphas...)
	}
	for i, a := range s.Alphas {
		if a < 0 || a > 1 {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid alpha",
				Detail:   fmt.Sprintf("Every alpha must be in [0, 1]; element %d is %g.", i, a),
				Subject:  r.elemRange("alphas", i).Ptr(),
			})
		}
	}
	s.PCA = r.oneOf("pca", "PCA feature set", "scored", "study")
	s.Components = r.nonNegInt("components")
	s.MinExamples = r.nonNegInt("min_examples")
	s.MinExampleShare = r.num("min_example_share")
	if s.MinExampleShare < 0 || s.MinExampleShare > 1 {
		r.errorf("min_example_share", "Invalid min_example_share", "min_example_share is the share of a cell's requested examples that must have been generated for it to be ranked; it must be in [0, 1], got %g.", s.MinExampleShare)
	}
	l.e.Score = s
	l.scoreReader = r
}
