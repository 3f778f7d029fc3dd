package strategy

import (
	"strings"

	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// DefaultSampling is the decoding recommended for a model family
// (docs/method.md §2): gemma T=1.0, top-p 0.95, top-k 64; llama T=0.6, top-p 0.9;
// aya, command and cohere T=0.3; anything else T=0.8, top-p 0.9. Family
// names match case-insensitively by prefix ("gemma3", "Llama-3.1").
func DefaultSampling(family string) sdk.Sampling {
	f := strings.ToLower(strings.TrimSpace(family))
	has := func(prefixes ...string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(f, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has("gemma"):
		return sdk.Sampling{Temperature: ptr(1.0), TopP: ptr(0.95), TopK: ptr(64)}
	case has("llama"):
		return sdk.Sampling{Temperature: ptr(0.6), TopP: ptr(0.9)}
	case has("aya", "command", "cohere"):
		return sdk.Sampling{Temperature: ptr(0.3)}
	}
	return sdk.Sampling{Temperature: ptr(0.8), TopP: ptr(0.9)}
}

func ptr[T any](v T) *T { return &v }

// ResolveSampling layers the family's defaults, the teacher block's
// sampling (every attribute it sets wins) and the step's max_tokens (which
// wins over the teacher's, since it is what the step needs).
func ResolveSampling(t *spec.Teacher, step *spec.Step) sdk.Sampling {
	s := DefaultSampling(t.Family)
	ts := t.Sampling
	if ts.Temperature != nil {
		s.Temperature = ptr(*ts.Temperature)
	}
	if ts.TopP != nil {
		s.TopP = ptr(*ts.TopP)
	}
	if ts.TopK != nil {
		s.TopK = ptr(*ts.TopK)
	}
	if ts.MaxTokens != nil {
		s.MaxTokens = *ts.MaxTokens
	}
	if ts.Seed != nil {
		s.Seed = ptr(*ts.Seed)
	}
	if ts.Stop != nil {
		s.Stop = append([]string(nil), ts.Stop...)
	}
	if step != nil && step.MaxTokens != nil {
		s.MaxTokens = *step.MaxTokens
	}
	return s
}
