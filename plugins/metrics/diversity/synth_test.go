package diversity

import (
	"math/rand/v2"

	"github.com/polyglot-teachers/polyglot/plugins/internal/synthtext"
)

// synthExamples adapts the shared synthetic pairs to this package's Example.
func synthExamples(seed uint64, n int) []Example {
	pairs := synthtext.Examples(seed, n)
	out := make([]Example, n)
	for i, p := range pairs {
		out[i] = Example{ID: p.ID, Prompt: p.Prompt, Response: p.Response}
	}
	return out
}

func synthText(r *rand.Rand, lang string, words int) string { return synthtext.Text(r, lang, words) }

func cpuSeconds() float64 { return synthtext.CPUSeconds() }
