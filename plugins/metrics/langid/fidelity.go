package langid

import (
	"sort"
	"sync"

	"golang.org/x/text/language"
)

// aliases folds tags that name the same language under different codes, as lid.176
// uses the older or the macro-language code for some ("tl" for Filipino, "no" for
// Bokmål) while targets may be written either way.
var aliases = map[string]string{
	"fil": "tl", "nb": "no", "iw": "he", "in": "id", "ji": "yi", "jw": "jv",
	"zh-hans": "zh", "zh-hant": "zh", "cmn": "zh",
}

// BaseLang returns the lower-case base language of a BCP-47 tag with aliases folded:
// "de-AT" -> "de", "fil" -> "tl", "sr-Latn" -> "sr".
func BaseLang(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return tag
	}
	b, _ := t.Base()
	s := b.String()
	if a, ok := aliases[s]; ok {
		return a
	}
	return s
}

// SameLanguage reports whether a detected language matches a target tag.
func SameLanguage(detected, target string) bool {
	return detected != Und && BaseLang(detected) == BaseLang(target)
}

// Example is one generated (prompt, response) pair and the language it should be in.
type Example struct {
	ID       string
	Target   string // BCP-47 tag of the target language; a script subtag ("sr-Latn") sets the expected script
	Prompt   string
	Response string
}

// Side is the verdict on one text of an example.
type Side struct {
	Result
	OnTarget       bool // detected language is the target
	ScriptMismatch bool // dominant script differs from the target's expected script
}

// ExampleFidelity is the per-example outcome.
type ExampleFidelity struct {
	ID       string
	Target   string
	Prompt   Side
	Response Side
}

// Fidelity summarises many examples of one target language.
type Fidelity struct {
	Target string
	N      int

	PromptRate   float64 // share of prompts identified as the target
	ResponseRate float64 // share of responses identified as the target
	BothRate     float64 // share of examples with both on target

	PromptUndetermined   float64 // share of prompts that came out "und"
	ResponseUndetermined float64

	// WrongLanguages counts prompts and responses identified as another language
	// (not "und"), by that language: the drift distribution.
	WrongLanguages map[string]int

	PromptScriptMismatch   float64 // share of prompts whose script does not fit the target
	ResponseScriptMismatch float64
	ScriptMismatchRate     float64 // over prompts and responses together
}

// Aggregator accumulates language fidelity over a stream of examples. It is safe for
// concurrent use; detection runs outside its lock.
type Aggregator struct {
	d        *Detector
	mu       sync.Mutex
	examples []ExampleFidelity
}

// NewAggregator starts an empty fidelity aggregation.
func (d *Detector) NewAggregator() *Aggregator { return &Aggregator{d: d} }

func (a *Aggregator) side(text, target, expected string) Side {
	r := a.d.Detect(text)
	return a.judge(r, target, expected)
}

func (a *Aggregator) judge(r Result, target, expected string) Side {
	return judgeSide(r, target, expected)
}

// judgeSide compares one detection with the target language and its
// expected script.
func judgeSide(r Result, target, expected string) Side {
	return Side{
		Result:         r,
		OnTarget:       SameLanguage(r.Lang, target),
		ScriptMismatch: r.Letters > 0 && !ScriptMatches(r.Script, expected),
	}
}

// Add detects both texts of ex, records the outcome and returns it.
func (a *Aggregator) Add(ex Example) ExampleFidelity {
	exp := ExpectedScript(ex.Target)
	ef := ExampleFidelity{
		ID: ex.ID, Target: ex.Target,
		Prompt:   a.side(ex.Prompt, ex.Target, exp),
		Response: a.side(ex.Response, ex.Target, exp),
	}
	a.mu.Lock()
	a.examples = append(a.examples, ef)
	a.mu.Unlock()
	return ef
}

// AddBatch is Add for many examples, detecting on all cores.
func (a *Aggregator) AddBatch(exs []Example) []ExampleFidelity {
	texts := make([]string, 0, 2*len(exs))
	for _, ex := range exs {
		texts = append(texts, ex.Prompt, ex.Response)
	}
	rs := a.d.DetectBatch(texts, 0)
	out := make([]ExampleFidelity, len(exs))
	for i, ex := range exs {
		exp := ExpectedScript(ex.Target)
		out[i] = ExampleFidelity{ID: ex.ID, Target: ex.Target,
			Prompt: a.judge(rs[2*i], ex.Target, exp), Response: a.judge(rs[2*i+1], ex.Target, exp)}
	}
	a.mu.Lock()
	a.examples = append(a.examples, out...)
	a.mu.Unlock()
	return out
}

// Examples returns the per-example outcomes in the order they were added.
func (a *Aggregator) Examples() []ExampleFidelity {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ExampleFidelity(nil), a.examples...)
}

// Summary returns one Fidelity per target language (by base language), sorted by target.
func (a *Aggregator) Summary() []Fidelity {
	a.mu.Lock()
	defer a.mu.Unlock()
	byTarget := map[string]*Fidelity{}
	var order []string
	for _, ex := range a.examples {
		key := BaseLang(ex.Target)
		f := byTarget[key]
		if f == nil {
			f = &Fidelity{Target: key, WrongLanguages: map[string]int{}}
			byTarget[key] = f
			order = append(order, key)
		}
		f.N++
		for i, s := range []Side{ex.Prompt, ex.Response} {
			if !s.OnTarget && !s.Undetermined {
				f.WrongLanguages[s.Lang]++
			}
			rate, und, mis := &f.PromptRate, &f.PromptUndetermined, &f.PromptScriptMismatch
			if i == 1 {
				rate, und, mis = &f.ResponseRate, &f.ResponseUndetermined, &f.ResponseScriptMismatch
			}
			if s.OnTarget {
				*rate++
			}
			if s.Undetermined {
				*und++
			}
			if s.ScriptMismatch {
				*mis++
				f.ScriptMismatchRate++
			}
		}
		if ex.Prompt.OnTarget && ex.Response.OnTarget {
			f.BothRate++
		}
	}
	sort.Strings(order)
	out := make([]Fidelity, 0, len(order))
	for _, k := range order {
		f := byTarget[k]
		n := float64(f.N)
		for _, p := range []*float64{&f.PromptRate, &f.ResponseRate, &f.BothRate, &f.PromptUndetermined,
			&f.ResponseUndetermined, &f.PromptScriptMismatch, &f.ResponseScriptMismatch} {
			*p /= n
		}
		f.ScriptMismatchRate /= 2 * n
		out = append(out, *f)
	}
	return out
}
