package score

import (
	"fmt"
	"math/rand/v2"
)

// benchStudy is built here rather than with scoretest, which imports this package.
func benchStudy() *Study {
	rng := rand.New(rand.NewPCG(1, 1))
	st := &Study{}
	for t := range 10 {
		for _, l := range []string{"ar", "cs", "de", "es", "id", "ja"} {
			for seed := 1; seed <= 3; seed++ {
				for _, m := range []struct {
					name string
					dir  Direction
				}{{"judge", Higher}, {"ppl", Lower}, {"diversity.prompt", Higher}, {"diversity.response", Higher}} {
					rec := MetricRecord{Teacher: fmt.Sprint("t", t), Language: l, Seed: seed, Metric: m.name, Direction: m.dir}
					var s float64
					for range 1000 {
						v := 5 + float64(t) + rng.NormFloat64()
						rec.PerExample = append(rec.PerExample, v)
						s += v
					}
					rec.Value = s / 1000
					st.Metrics = append(st.Metrics, rec)
				}
			}
		}
	}
	return st
}
