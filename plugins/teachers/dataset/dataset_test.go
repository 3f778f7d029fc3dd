package dataset

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

func open(t *testing.T, corruption string) (*sdk.Client, sdk.TeacherOpen) {
	c := sdktest.Start(t, sdk.ServeOpts{Name: "dataset", Version: "1", Teachers: []sdk.Teacher{New()}})
	tc := New()
	cfg := sdktest.Config(t, tc.Describe().Schema, map[string]cty.Value{"path": cty.StringVal("testdata/rows.jsonl"), "corruption": cty.StringVal(corruption)})
	return c, sdk.TeacherOpen{Component: "dataset", Config: cfg}
}

func respondCall(id, prompt string) *sdk.Call {
	return &sdk.Call{ID: id, Messages: []sdk.Message{{Role: "user", Content: prompt}}, Metadata: map[string]string{"language": "de", "seed_prompt": prompt, "seed_id": id}}
}

func TestReplay(t *testing.T) {
	c, o := open(t, "none")
	rs := sdktest.Generate(t, c, o, respondCall("a", "Nenne eine Farbe."), &sdk.Call{ID: "g", Output: sdk.OutputFormat{JSON: true}, Metadata: map[string]string{"language": "de"}})
	if rs[0].Text != "Blau ist die Farbe des klaren Himmels." {
		t.Errorf("respond replay = %q", rs[0].Text)
	}
	var pair map[string]string
	if err := json.Unmarshal([]byte(rs[1].Text), &pair); err != nil || pair["prompt"] == "" || pair["response"] == "" {
		t.Errorf("generate replay = %q (%v)", rs[1].Text, err)
	}
	again := sdktest.Generate(t, c, o, &sdk.Call{ID: "g", Output: sdk.OutputFormat{JSON: true}, Metadata: map[string]string{"language": "de"}})
	if again[0].Text != rs[1].Text {
		t.Error("replay is not deterministic")
	}
}

func TestCorruptions(t *testing.T) {
	const prompt, orig = "Wohin fährst du?", "Ich fahre morgen mit dem Zug nach Hamburg."
	cases := []struct {
		corruption string
		check      func(got string) bool
	}{
		{"repair_prompts", func(g string) bool { return g != orig && strings.HasSuffix(g, ".") }},
		{"scramble_words", func(g string) bool { return g != orig && sameWords(g, orig) }},
		{"truncate", func(g string) bool { return len([]rune(g)) == len([]rune(orig))/5 }},
		{"swap_language", func(g string) bool { return g == "Son casi las nueve de la noche." }},
		{"near_copies", func(g string) bool { return g != orig || true }},
	}
	for _, tc := range cases {
		t.Run(tc.corruption, func(t *testing.T) {
			c, o := open(t, tc.corruption)
			got := sdktest.Generate(t, c, o, respondCall("x", prompt))[0].Text
			if !tc.check(got) {
				t.Errorf("%s gave %q", tc.corruption, got)
			}
		})
	}
}

func sameWords(a, b string) bool {
	wa, wb := strings.Fields(a), strings.Fields(b)
	if len(wa) != len(wb) {
		return false
	}
	count := map[string]int{}
	for _, w := range wa {
		count[w]++
	}
	for _, w := range wb {
		count[w]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestNearCopiesCollapse(t *testing.T) {
	c, o := open(t, "near_copies")
	var calls []*sdk.Call
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		calls = append(calls, respondCall(id, "Wie spät ist es?"))
	}
	distinctBases := map[string]bool{}
	for _, r := range sdktest.Generate(t, c, o, calls...) {
		distinctBases[strings.Fields(r.Text)[0]] = true
	}
	if len(distinctBases) > 3 {
		t.Errorf("near copies come from %d rows, want at most 3", len(distinctBases))
	}
}

func TestValidateConfig(t *testing.T) {
	c, _ := open(t, "none")
	schema := New().Describe().Schema
	bad := sdktest.Config(t, schema, map[string]cty.Value{"path": cty.StringVal("nope/*.jsonl"), "corruption": cty.StringVal("shred")})
	d, err := c.ValidateConfig(t.Context(), sdk.KindTeacher, "dataset", bad)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, x := range d {
		paths[sdk.PathString(x.Path)] = true
	}
	if !paths["path"] || !paths["corruption"] {
		t.Errorf("want errors on path and corruption, got %+v", d)
	}
}
