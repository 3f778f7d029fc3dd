package score_test

import (
	"testing"

	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/score/scoretest"
)

// paperStudy is a study at the paper's scale: 10 teachers × 6 languages × 4 strategy
// views (the ranking's "" and three named strategies) × 3 seeds, 4 scored metrics of
// 1,000 per-example values each.
func paperStudy() *score.Study {
	return scoretest.Study(scoretest.Config{Teachers: 10, Languages: []string{"ar", "cs", "de", "es", "id", "ja"},
		Strategies: []string{"generate", "respond", "translate"}, Seeds: []int{1, 2, 3}, PerExample: 1000, Seed: 1})
}

// BenchmarkComputePaperScale scores the paper-scale study with the default 1,000-resample
// bootstrap, as `polyglot score` does.
func BenchmarkComputePaperScale(b *testing.B) {
	st := paperStudy()
	s := score.DefaultSettings()
	for b.Loop() {
		if _, err := score.Compute(st, s); err != nil {
			b.Fatal(err)
		}
	}
}
