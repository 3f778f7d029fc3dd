package score_test

import (
	"syscall"
	"testing"
	"time"

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
	cpu0 := processCPU()
	for b.Loop() {
		if _, err := score.Compute(st, s); err != nil {
			b.Fatal(err)
		}
	}
	// CPU seconds per op beside the wall time: on a shared machine the wall
	// time says how loaded it was, the CPU time what scoring costs (on an
	// idle machine, wall ≈ cpu-s / cores for the parallel bootstrap).
	b.ReportMetric((processCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkComputePaperScaleProvisional scores the same study with the
// bootstrap capped as the live view's provisional ranking caps it
// (live.RankingBootstrap = 200 resamples); compare with
// BenchmarkComputePaperScale in the same run.
func BenchmarkComputePaperScaleProvisional(b *testing.B) {
	st := paperStudy()
	s := score.DefaultSettings()
	s.Bootstrap = 200
	for b.Loop() {
		if _, err := score.Compute(st, s); err != nil {
			b.Fatal(err)
		}
	}
}
