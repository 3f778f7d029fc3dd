package screening

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Truth is a synthetic study: the true value of every cell on the scale
// the stages decide on, and the standard deviation of one example's
// score around it.
type Truth struct {
	Teachers  []string
	Languages []string
	Value     [][]float64 // [teacher][language]
	Noise     [][]float64 // [teacher][language], per example
}

// Model draws synthetic studies: a cell's true value is a teacher effect
// plus a language effect plus an interaction, each normal with the given
// standard deviation; an example's score is the cell value plus noise of
// standard deviation Noise (times a per-cell factor uniform in
// 1 ± NoiseJitter), normal or, with Tail = "t3", Student-t with three
// degrees of freedom scaled to that deviation (heavy tails, as judge
// scores and perplexities have).
type Model struct {
	Teachers, Languages int
	TeacherSD           float64
	LanguageSD          float64
	InteractionSD       float64
	Noise               float64
	NoiseJitter         float64
	Tail                string
}

// Draw makes one study.
func (m Model) Draw(rng *rand.Rand) Truth {
	tr := Truth{}
	for t := range m.Teachers {
		tr.Teachers = append(tr.Teachers, fmt.Sprintf("t%02d", t))
	}
	lang := make([]float64, m.Languages)
	for l := range m.Languages {
		tr.Languages = append(tr.Languages, fmt.Sprintf("l%d", l))
		lang[l] = rng.NormFloat64() * m.LanguageSD
	}
	for range m.Teachers {
		a := rng.NormFloat64() * m.TeacherSD
		vs, ns := make([]float64, m.Languages), make([]float64, m.Languages)
		for l := range m.Languages {
			vs[l] = a + lang[l] + rng.NormFloat64()*m.InteractionSD
			ns[l] = m.Noise * (1 + m.NoiseJitter*(2*rng.Float64()-1))
		}
		tr.Value = append(tr.Value, vs)
		tr.Noise = append(tr.Noise, ns)
	}
	return tr
}

func (m Model) noise(rng *rand.Rand) float64 {
	if m.Tail != "t3" {
		return rng.NormFloat64()
	}
	// Student-t(3) = N / sqrt(chi²₃/3), variance 3: scaled to unit variance.
	c := 0.0
	for range 3 {
		g := rng.NormFloat64()
		c += g * g
	}
	return rng.NormFloat64() / math.Sqrt(c/3) / math.Sqrt(3)
}

// SimConfig is a simulation: the screening's rule and stages, the full
// size of a cell, how many studies to draw and the seed.
type SimConfig struct {
	Settings Settings
	Stages   []int // examples per cell at each screening stage
	Full     int
	Reps     int
	Seed     uint64
}

// SimResult summarises a simulation.
type SimResult struct {
	Reps int `json:"reps"`
	// BestSurvives is the share of (study, language) pairs whose true best
	// teacher was still generating at the end; AllBestSurvive the share of
	// studies where that held in every language.
	BestSurvives   float64 `json:"best_survives"`
	AllBestSurvive float64 `json:"all_best_survive"`
	// CostShare is the mean share of the full generation cost (examples of
	// every cell at the full size) the screened run spent; CostShareMax the
	// largest over the studies.
	CostShare    float64 `json:"cost_share"`
	CostShareMax float64 `json:"cost_share_max"`
	// AliveAfter is the mean share of cells still generating after each stage.
	AliveAfter []float64 `json:"alive_after"`
}

// Simulate draws cfg.Reps studies from model, runs each through the
// screening (Tracker.Step and Decide, as a run does, with per-example
// scores drawn one by one so that a stage's data is the prefix of the
// next's) and says how often the true best survived and what it cost. The
// result depends only on the arguments.
func Simulate(cfg SimConfig, model Model) SimResult {
	res := SimResult{Reps: cfg.Reps, AliveAfter: make([]float64, len(cfg.Stages))}
	s := cfg.Settings.Defaults()
	var pairs, survived, allOK int
	for rep := range cfg.Reps {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(rep)))
		tr := model.Draw(rng)
		tk := NewTracker(s, tr.Teachers, tr.Languages)
		data := map[Cell][]float64{}
		index := map[Cell][2]int{}
		for t, tn := range tr.Teachers {
			for l, ln := range tr.Languages {
				index[Cell{tn, ln}] = [2]int{t, l}
			}
		}
		for si, n := range cfg.Stages {
			scores := map[Cell]Candidate{}
			for _, c := range tk.AliveCells() {
				ix := index[c]
				mu, sd := tr.Value[ix[0]][ix[1]], tr.Noise[ix[0]][ix[1]]
				xs := data[c]
				for len(xs) < n {
					xs = append(xs, mu+sd*model.noise(rng))
				}
				data[c] = xs
				cand, _ := MeanInterval(xs, s.Confidence)
				scores[c] = cand
			}
			tk.Step(n, scores)
			res.AliveAfter[si] += float64(len(tk.AliveCells())) / float64(len(index))
		}
		// Cost: a dropped cell generated its stage's size, a survivor all.
		spent := 0.0
		for c := range index {
			if i, ok := tk.DroppedAt(c); ok {
				spent += float64(cfg.Stages[i])
			} else {
				spent += float64(cfg.Full)
			}
		}
		share := spent / float64(cfg.Full*len(index))
		res.CostShare += share
		res.CostShareMax = max(res.CostShareMax, share)
		all := true
		for l, ln := range tr.Languages {
			best := math.Inf(-1)
			for t := range tr.Teachers {
				best = max(best, tr.Value[t][l])
			}
			ok := false
			for t, tn := range tr.Teachers {
				if tr.Value[t][l] == best && tk.Alive(Cell{tn, ln}) {
					ok = true
				}
			}
			pairs++
			if ok {
				survived++
			} else {
				all = false
			}
		}
		if all {
			allOK++
		}
	}
	if cfg.Reps > 0 {
		res.BestSurvives = float64(survived) / float64(pairs)
		res.AllBestSurvive = float64(allOK) / float64(cfg.Reps)
		res.CostShare /= float64(cfg.Reps)
		for i := range res.AliveAfter {
			res.AliveAfter[i] /= float64(cfg.Reps)
		}
	}
	return res
}

// Reference is a study shaped like the reference one (10 teachers × 6
// languages) on the scale of the intrinsic part of the PG-Score, pooled
// z-scores (docs/method.md §9.3 derives the numbers): teacher effects of
// SD 0.5, language effects of SD 0.4, teacher × language interactions of
// SD 0.35, and a per-example noise of SD 0.75 (± 20 % by cell).
func Reference() Model {
	return Model{Teachers: 10, Languages: 6, TeacherSD: 0.5, LanguageSD: 0.4, InteractionSD: 0.35, Noise: 0.75, NoiseJitter: 0.2}
}
