package judge

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// maxNote bounds the rationale kept in a per-example note.
const maxNote = 1000

// failure is one example the judge could not score.
type failure struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// accumulator keeps running sums and one overall score per example.
type accumulator struct {
	s        settings
	host     sdk.Host
	language string
	cell     string
	system   string
	rubric   string
	format   string
	schema   string
	langName string

	sums          []float64 // per criterion, over scored examples
	overall       []float64
	examples      int
	parseFailures int
	callFailures  int
	extracted     int
	failures      []failure // the first few, for the report
}

func (a *accumulator) call(ex *sdk.Example) *sdk.Call {
	user := a.rubric + "\n\n### Instruction\n" + ex.Prompt + "\n\n### Response\n" + ex.Response + "\n\n### Your verdict\n" + a.format
	c := &sdk.Call{
		ID: "judge:" + ex.ID,
		Messages: []sdk.Message{
			{Role: "system", Content: a.system},
			{Role: "user", Content: user},
		},
		Sampling: sdk.Sampling{MaxTokens: a.s.maxTokens, Temperature: a.s.temperature},
		Output:   sdk.OutputFormat{JSON: true, JSONSchema: a.schema},
		Metadata: map[string]string{"step": "judge", "language": a.language, "cell": a.cell, "example_id": ex.ID},
	}
	return c
}

// Add implements sdk.Accumulator: the batch is judged in host requests of
// s.batch calls and every example's values come back at once.
func (a *accumulator) Add(ctx context.Context, batch []sdk.Example) ([]sdk.ExampleValue, error) {
	out := make([]sdk.ExampleValue, 0, len(batch))
	for lo := 0; lo < len(batch); lo += a.s.batch {
		part := batch[lo:min(lo+a.s.batch, len(batch))]
		calls := make([]*sdk.Call, len(part))
		for i := range part {
			calls[i] = a.call(&part[i])
		}
		results, err := a.host.Generate(ctx, a.s.teacher, calls)
		if err != nil {
			return nil, fmt.Errorf("judge: asking teacher %q: %w", a.s.teacher, err)
		}
		results, err = matchResults(calls, results)
		if err != nil {
			return nil, fmt.Errorf("judge: teacher %q: %w", a.s.teacher, err)
		}
		for i, r := range results {
			out = append(out, a.judge(&part[i], r))
		}
	}
	return out, nil
}

// matchResults orders results like calls: by ID when the host sets them,
// otherwise by position.
func matchResults(calls []*sdk.Call, results []*sdk.Result) ([]*sdk.Result, error) {
	if len(results) != len(calls) {
		return nil, fmt.Errorf("the host returned %d results for %d calls", len(results), len(calls))
	}
	inOrder := true
	for i, r := range results {
		if r == nil {
			return nil, fmt.Errorf("the host returned no result for call %s", calls[i].ID)
		}
		if r.ID != "" && r.ID != calls[i].ID {
			inOrder = false
		}
	}
	if inOrder {
		return results, nil
	}
	byID := make(map[string]*sdk.Result, len(results))
	for _, r := range results {
		byID[r.ID] = r
	}
	out := make([]*sdk.Result, len(calls))
	for i, c := range calls {
		if out[i] = byID[c.ID]; out[i] == nil {
			return nil, fmt.Errorf("the host returned no result for call %s", c.ID)
		}
	}
	return out, nil
}

// judge turns one answer into the example's values.
func (a *accumulator) judge(ex *sdk.Example, r *sdk.Result) sdk.ExampleValue {
	a.examples++
	ev := sdk.ExampleValue{ID: ex.ID}
	if r.Err != nil {
		a.callFailures++
		return a.fail(ev, "judge call failed: "+r.Err.Error())
	}
	v, err := ParseVerdict(r.Text, a.s.criteria)
	if err != nil {
		a.parseFailures++
		reason := "unparsable verdict: " + err.Error()
		if r.FinishReason == "length" {
			reason += " (the answer was cut at max_tokens; raise max_tokens)"
		}
		return a.fail(ev, reason)
	}
	if v.Extracted {
		a.extracted++
	}
	ev.Values = make(map[string]float64, len(a.s.criteria)+1)
	var sum float64
	for i, c := range a.s.criteria {
		ev.Values[c] = v.Scores[c]
		a.sums[i] += v.Scores[c]
		sum += v.Scores[c]
	}
	ev.Values["overall"] = sum / float64(len(a.s.criteria))
	a.overall = append(a.overall, ev.Values["overall"])
	ev.Note = clipRunes(strings.TrimSpace(v.Rationale), maxNote)
	return ev
}

// fail applies the failure policy.
func (a *accumulator) fail(ev sdk.ExampleValue, reason string) sdk.ExampleValue {
	if len(a.failures) < 10 {
		a.failures = append(a.failures, failure{ev.ID, reason})
	}
	ev.Note = reason
	if a.s.policy != ScoreAs1 {
		return ev
	}
	ev.Note += " (scored as 1)"
	ev.Values = map[string]float64{"overall": 1}
	for i, c := range a.s.criteria {
		ev.Values[c] = 1
		a.sums[i]++
	}
	a.overall = append(a.overall, 1)
	return ev
}

// Finish implements sdk.Accumulator.
func (a *accumulator) Finish(context.Context) ([]sdk.ExampleValue, *sdk.Aggregate, error) {
	failures := a.parseFailures + a.callFailures
	if len(a.overall) == 0 {
		if a.examples == 0 {
			return nil, nil, fmt.Errorf("judge: the cell has no examples")
		}
		return nil, nil, fmt.Errorf("judge: none of %d examples could be scored (%d unparsable verdicts, %d failed calls); first: %s: %s",
			a.examples, a.parseFailures, a.callFailures, a.failures[0].ID, a.failures[0].Reason)
	}
	n := float64(len(a.overall))
	var total float64
	for _, x := range a.overall {
		total += x
	}
	sorted := slices.Clone(a.overall)
	slices.Sort(sorted)
	vals := map[string]float64{
		"value":          total / n,
		"mean":           total / n,
		"median":         median(sorted),
		"n":              n,
		"examples":       float64(a.examples),
		"parse_failures": float64(a.parseFailures),
		"call_failures":  float64(a.callFailures),
		"failures":       float64(failures),
		"failure_rate":   float64(failures) / float64(a.examples),
		"extracted":      float64(a.extracted),
	}
	for i, c := range a.s.criteria {
		vals["mean_"+c] = a.sums[i] / n
	}
	return nil, &sdk.Aggregate{Values: vals, Details: map[string]any{
		"teacher":          a.s.teacher,
		"criteria":         a.s.criteria,
		"on_parse_failure": a.s.policy,
		"language_name":    a.langName,
		"first_failures":   a.failures,
	}}, nil
}

func median(sorted []float64) float64 {
	m := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[m]
	}
	return (sorted[m-1] + sorted[m]) / 2
}

func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
