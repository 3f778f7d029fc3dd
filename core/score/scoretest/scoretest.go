// Package scoretest builds synthetic but internally consistent studies for tests and
// benchmarks of the scoring, analysis and report packages (as net/http/httptest does for
// HTTP). Every teacher has a hidden quality; metrics and student scores are drawn around
// it with seeded noise, so a correct pipeline must recover the quality order.
package scoretest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/polyglot-teachers/polyglot/core/score"
)

// Config sizes a synthetic study.
type Config struct {
	Teachers   int
	Languages  []string
	Strategies []string // per-strategy cells in addition to the "" cells; may be empty
	Seeds      []int
	Students   []string // student models; each one's family is its name
	PerExample int      // per-example values per metric (0 = none)
	Noise      float64  // seed noise relative to the quality spread; 0 = 0.05
	Seed       uint64
	Controls   bool // add a "scrambled" control and "seeds" reference data per language
	Examples   int  // example records per (teacher, language, metric)
}

// Quality returns the hidden quality of teacher i (decreasing in i).
func Quality(i, n int) float64 { return 1 - float64(i)/float64(n) }

// TeacherName returns the name of teacher i.
func TeacherName(i int) string { return fmt.Sprintf("teacher%02d", i) }

// Study builds the study.
func Study(c Config) *score.Study {
	if c.Noise == 0 {
		c.Noise = 0.05
	}
	if len(c.Seeds) == 0 {
		c.Seeds = []int{1}
	}
	if len(c.Students) == 0 {
		c.Students = []string{"olmo"}
	}
	rng := rand.New(rand.NewPCG(c.Seed, 7))
	st := &score.Study{}
	families := []string{"olmo", "gemma", "llama", "qwen"}
	benches := []string{"global_mmlu_lite", "mgsm"}
	for i := range c.Teachers {
		q := Quality(i, c.Teachers)
		st.Teachers = append(st.Teachers, score.TeacherInfo{Teacher: TeacherName(i), Family: families[i%len(families)],
			Parameters: math.Pow(10, 9+2*rng.Float64()), BenchmarkStrength: 0.4 + 0.5*rng.Float64(),
			CostUSD: 1 + 20*rng.Float64(), Examples: 300})
		_ = q
	}
	for li, lang := range c.Languages {
		langEffect := 0.1 * float64(li%3)
		for _, student := range c.Students {
			for _, b := range benches {
				base := 0.3 + 0.02*float64(li)
				for _, seed := range c.Seeds {
					st.Benchmarks = append(st.Benchmarks,
						score.BenchmarkRecord{Role: score.RoleBase, Language: lang, Student: student, Seed: seed, Benchmark: b, Score: base, Stderr: 0.005},
						score.BenchmarkRecord{Role: score.RoleReference, Language: lang, Student: student, Seed: seed, Benchmark: b, Score: base + 0.2, Stderr: 0.005})
				}
			}
		}
		for i := range c.Teachers {
			name := TeacherName(i)
			q := Quality(i, c.Teachers) + langEffect
			for _, strat := range append([]string{""}, c.Strategies...) {
				sq := q
				if strat != "" {
					sq += 0.05 * float64(len(strat)%3)
				}
				for _, seed := range c.Seeds {
					addMetrics(st, rng, c, name, lang, strat, seed, sq)
					for _, student := range c.Students {
						for _, b := range benches {
							base := 0.3 + 0.02*float64(li)
							pgr := 0.2 + 0.6*sq + c.Noise*rng.NormFloat64()
							st.Benchmarks = append(st.Benchmarks, score.BenchmarkRecord{Role: score.RoleStudent, Teacher: name, Strategy: strat,
								Language: lang, Student: student, StudentFamily: student, Seed: seed, Benchmark: b, Score: base + 0.2*pgr, Stderr: 0.01})
						}
					}
				}
			}
			for _, m := range []string{"judge", "ppl"} {
				for e := range c.Examples {
					st.Examples = append(st.Examples, score.Example{Teacher: name, Language: lang, Metric: m, ID: fmt.Sprintf("%s-%s-%d", name, lang, e),
						Value: rng.Float64() * 5, Prompt: fmt.Sprintf("Prompt %d in %s", e, lang), Response: fmt.Sprintf("Response %d <b>by</b> %s", e, name)})
				}
			}
		}
		if c.Controls {
			for _, seed := range c.Seeds {
				addMetrics(st, rng, c, "seeds", lang, "", seed, 0.9)
				addMetrics(st, rng, c, "scrambled", lang, "", seed, -0.5)
			}
		}
	}
	if c.Controls {
		st.Controls = append(st.Controls, score.Control{Name: "scrambled", Kind: "scramble_words", Reference: "seeds", CaughtBy: []string{"ppl", "judge"}})
	}
	return st
}

func addMetrics(st *score.Study, rng *rand.Rand, c Config, teacher, lang, strat string, seed int, q float64) {
	type spec struct {
		name      string
		dir       score.Direction
		center    float64
		slope, sd float64
	}
	for _, m := range []spec{
		{"diversity.prompt", score.Higher, 0.5, 0.2, 0.05},
		{"diversity.response", score.Higher, 0.4, 0.1, 0.05},
		{"ppl", score.Lower, 30, -10, 3},
		{"judge", score.Higher, 3, 1.5, 0.6},
		{"length.prompt", score.None, 40, 5, 8},
		{"length.response", score.None, 200, 40, 30},
	} {
		mean := m.center + m.slope*q + c.Noise*m.slope*rng.NormFloat64()
		rec := score.MetricRecord{Teacher: teacher, Language: lang, Strategy: strat, Seed: seed, Metric: m.name, Direction: m.dir}
		if c.PerExample > 0 && m.dir != score.None {
			var s float64
			for range c.PerExample {
				v := mean + m.sd*rng.NormFloat64()
				if m.name == "ppl" {
					v = math.Max(1, v) // a perplexity is at least 1
				}
				rec.PerExample = append(rec.PerExample, v)
				s += v
			}
			mean = s / float64(c.PerExample)
			rec.N = c.PerExample
		}
		rec.Value = mean
		st.Metrics = append(st.Metrics, rec)
	}
}
