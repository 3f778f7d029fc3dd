package strategy

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"testing"
)

func TestRequestVarsAndSources(t *testing.T) {
	req := &Request{Seed: Row{ID: "s1", Prompt: " Wie geht's? ", Response: "Gut.", Language: "de"},
		Examples: []Row{{Prompt: "p", Response: "r"}}, TaskFamily: TaskFamilies[0].Name}
	prior := map[string]StepOutput{
		"mt":   {Text: "How are you?"},
		"gen":  {Text: `{"prompt":"q","n":2}`, Fields: map[string]any{"prompt": "q", "n": json.Number("2")}},
		"odd":  {Text: "raw", Fields: map[string]any{"text": "field wins"}},
		"none": {Text: "  "},
	}
	vars := requestVars{req, prior, Language{Tag: "de", Name: "German", Native: "Deutsch", Script: "Latin"}}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"language", "German", true},
		{"language_native", "Deutsch", true},
		{"language_code", "de", true},
		{"script", "Latin", true},
		{"seed.prompt", " Wie geht's? ", true},
		{"seed.id", "s1", true},
		{"examples", "Example 1\nPrompt:\np\nResponse:\nr", true},
		{"task_family", TaskFamilies[0].Description, true},
		{"steps.mt.text", "How are you?", true},
		{"steps.gen.prompt", "q", true},
		{"steps.gen.n", "2", true},
		{"steps.gen.missing", "", false},
		{"steps.odd.text", "field wins", true},
		{"steps.nope.text", "", false},
		{"steps.mt", "", false},
		{"seed.nope", "", false},
		{"nothing", "", false},
	} {
		got, ok := vars.Lookup(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := (requestVars{&Request{}, nil, Language{}}).Lookup("task_family"); ok {
		t.Error("task_family without a family must be missing")
	}

	for _, tc := range []struct {
		src, want, err string
	}{
		{"seed.prompt", "Wie geht's?", ""},
		{"seed.response", "Gut.", ""},
		{"steps.gen.prompt", "q", ""},
		{"steps.mt.text", "How are you?", ""},
		{"seed.nope", "", `"seed.nope": unknown seed field; use seed.prompt, seed.response, seed.id or seed.language`},
		{"seed.prompt.x", "", `"seed.prompt.x" is not a source; use seed.FIELD or steps.STEP.FIELD`},
		{"steps.mt", "", `"steps.mt" is not a source; use seed.FIELD or steps.STEP.FIELD`},
		{"steps.a.b.c", "", `"steps.a.b.c" is not a source; use seed.FIELD or steps.STEP.FIELD`},
		{"seed", "", `"seed" is not a source; use seed.FIELD or steps.STEP.FIELD`},
		{"steps.nope.text", "", `"steps.nope.text": step "nope" has no output`},
		{"steps.gen.missing", "", `"steps.gen.missing": step "gen" returned no field "missing"`},
		{"steps.none.text", "", `"steps.none.text" is empty for seed row "s1"`},
	} {
		got, err := source(tc.src, req, prior)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("source(%q): error %v, want %s", tc.src, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("source(%q) = %q, %v; want %q", tc.src, got, err, tc.want)
		}
	}
}

// requestIDFmt is requestID as first written with fmt: stored request keys
// hash these IDs, so requestID must give the same bytes forever.
func requestIDFmt(seed int64, r *Request) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%s\x00%s", seed, r.Seed.Set, r.Seed.ID, r.Seed.Prompt, r.TaskFamily)
	for _, e := range r.Examples {
		fmt.Fprintf(h, "\x00%s\x00%s", e.Set, e.ID)
	}
	return fmt.Sprintf("%s-%s-%06d-%08x", r.Strategy, r.Language, r.Index, h.Sum64()&0xffffffff)
}

func TestRequestIDIsStable(t *testing.T) {
	reqs := []Request{
		{Strategy: "respond", Language: "de", Index: 0, Seed: Row{Set: "s", ID: "1", Prompt: "Hallo"}},
		{Strategy: "generate", Language: "yo", Index: 1234567, Seed: Row{Set: "", ID: "", Prompt: ""}, TaskFamily: "coding",
			Examples: []Row{{Set: "a", ID: "x"}, {Set: "b", ID: "y\x00z"}}},
		{Strategy: "translate", Language: "zh-Hant", Index: 42, Seed: Row{Set: "ünï", ID: "%d", Prompt: "多语言\n"}},
	}
	for _, seed := range []int64{0, 7, -3, 1 << 40} {
		for _, r := range reqs {
			if got, want := requestID(seed, &r), requestIDFmt(seed, &r); got != want {
				t.Errorf("seed %d: requestID = %q, want %q", seed, got, want)
			}
		}
	}
	// And one pinned, in case both ever change together.
	if got := requestID(7, &reqs[0]); got != "respond-de-000000-2a5c219c" {
		t.Errorf("requestID = %q, want respond-de-000000-2a5c219c", got)
	}
}
