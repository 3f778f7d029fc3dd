package judge

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Verdict is a parsed judgement.
type Verdict struct {
	// Scores holds one score in [1, 5] per criterion.
	Scores    map[string]float64
	Rationale string
	// Extracted is true when the object was found inside other text (prose,
	// a code fence) rather than being the whole answer.
	Extracted bool
}

// ParseVerdict reads a judge's answer: strictly as one JSON object first,
// then as the first JSON object inside the text that has "scores" (or has
// every criterion as a key). Every criterion must have a numeric score in
// [1, 5].
func ParseVerdict(text string, criteria []string) (Verdict, error) {
	trimmed := strings.TrimSpace(text)
	if trimmed == "" {
		return Verdict{}, errors.New("the answer is empty")
	}
	var whole map[string]json.RawMessage
	if err := json.Unmarshal([]byte(trimmed), &whole); err == nil {
		return verdictFrom(whole, criteria, false)
	}
	obj, err := firstObject(trimmed, criteria)
	if err != nil {
		return Verdict{}, err
	}
	return verdictFrom(obj, criteria, true)
}

// firstObject returns the first JSON object in text that carries scores. It
// tries each '{' in turn, so stray braces in prose are skipped. Answers are
// bounded by max_tokens, so the quadratic worst case stays small.
func firstObject(text string, criteria []string) (map[string]json.RawMessage, error) {
	var firstAny map[string]json.RawMessage
	for i := 0; i < len(text); i++ {
		if text[i] != '{' {
			continue
		}
		var obj map[string]json.RawMessage
		if json.NewDecoder(strings.NewReader(text[i:])).Decode(&obj) != nil {
			continue
		}
		if _, ok := obj["scores"]; ok || hasAll(obj, criteria) {
			return obj, nil
		}
		if firstAny == nil {
			firstAny = obj
		}
	}
	if firstAny != nil {
		return firstAny, nil // verdictFrom reports what it lacks
	}
	return nil, errors.New("the answer contains no JSON object")
}

func hasAll(obj map[string]json.RawMessage, criteria []string) bool {
	for _, c := range criteria {
		if _, ok := obj[c]; !ok {
			return false
		}
	}
	return len(criteria) > 0
}

func verdictFrom(obj map[string]json.RawMessage, criteria []string, extracted bool) (Verdict, error) {
	v := Verdict{Scores: map[string]float64{}, Extracted: extracted}
	scores := obj
	if raw, ok := obj["scores"]; ok {
		if err := json.Unmarshal(raw, &scores); err != nil || scores == nil {
			return v, fmt.Errorf(`"scores" is not an object: %s`, clip(string(raw)))
		}
	} else if !hasAll(obj, criteria) {
		return v, errors.New(`the JSON object has no "scores"`)
	}
	if raw, ok := obj["rationale"]; ok {
		// A non-string rationale is kept as written; it is not a score.
		if json.Unmarshal(raw, &v.Rationale) != nil {
			v.Rationale = string(raw)
		}
	}
	for _, c := range criteria {
		raw, ok := scores[c]
		if !ok {
			return v, fmt.Errorf("criterion %q is missing from the scores", c)
		}
		x, err := scoreValue(raw)
		if err != nil {
			return v, fmt.Errorf("criterion %q: %w", c, err)
		}
		if x < 1 || x > 5 {
			return v, fmt.Errorf("criterion %q: score %g is outside 1–5", c, x)
		}
		v.Scores[c] = x
	}
	return v, nil
}

// scoreValue accepts a JSON number or a string holding one ("4"); anything
// else ("five", null, a list) is not a score.
func scoreValue(raw json.RawMessage) (float64, error) {
	var f *float64 // a pointer, because null decodes into a float as 0
	if err := json.Unmarshal(raw, &f); err == nil && f != nil {
		return *f, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("score %s is not a number", clip(string(raw)))
}

func clip(s string) string {
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return s
}
