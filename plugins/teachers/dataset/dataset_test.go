package dataset

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

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
		{"scramble_words", func(g string) bool { return g != orig && sameWords(g, orig) && strings.HasSuffix(g, ".") }},
		{"truncate", func(g string) bool { return len([]rune(g)) == len([]rune(orig))/5 }},
		{"swap_language", func(g string) bool {
			return g == "Son casi las nueve de la noche." || g == "Vivo en un piso pequeño cerca del mercado."
		}},
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

// sameWords says whether two texts have the same word segments (UAX #29), in any order.
func sameWords(a, b string) bool {
	wa, wb := segments(a), segments(b)
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

func openPath(t *testing.T, path, corruption string) (*sdk.Client, sdk.TeacherOpen) {
	c := sdktest.Start(t, sdk.ServeOpts{Name: "dataset", Version: "1", Teachers: []sdk.Teacher{New()}})
	cfg := sdktest.Config(t, New().Describe().Schema, map[string]cty.Value{"path": cty.StringVal(path), "corruption": cty.StringVal(corruption)})
	return c, sdk.TeacherOpen{Component: "dataset", Config: cfg}
}

// TestCorruptionsChangeEveryScript replays every row of Japanese, Chinese,
// Thai, Arabic and German data through each control over gRPC: every
// response must come back changed. Splitting on spaces left unspaced
// Japanese and Chinese untouched by scramble_words and near_copies.
func TestCorruptionsChangeEveryScript(t *testing.T) {
	var rows []row
	if err := readJSONL("testdata/scripts.jsonl", func(r row) { rows = append(rows, r) }); err != nil {
		t.Fatal(err)
	}
	for _, corruption := range Corruptions[1:] {
		t.Run(corruption, func(t *testing.T) {
			c, o := openPath(t, "testdata/scripts.jsonl", corruption)
			var calls []*sdk.Call
			for _, r := range rows {
				calls = append(calls, &sdk.Call{ID: r.ID, Messages: []sdk.Message{{Role: "user", Content: r.Prompt}},
					Metadata: map[string]string{"language": r.Language, "seed_prompt": r.Prompt, "seed_id": r.ID}})
			}
			for i, res := range sdktest.Generate(t, c, o, calls...) {
				if res.Text == rows[i].Response {
					t.Errorf("%s left %s unchanged: %q", corruption, rows[i].ID, res.Text)
				}
				if !utf8.ValidString(res.Text) {
					t.Errorf("%s broke the UTF-8 of %s: %q", corruption, rows[i].ID, res.Text)
				}
			}
		})
	}
}

// TestScrambleKeepsContent checks that scrambling permutes the text's own
// pieces: the same grapheme clusters, in another order.
func TestScrambleKeepsContent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []string{"今日は朝から晴れていて、午後も雨は降らないでしょう。", "วันนี้อากาศดีมากและไม่มีฝนตก", "Ich fahre morgen mit dem Zug nach Hamburg.", "コンピューター"} {
		got := scramble(s, rng)
		if got == s {
			t.Errorf("scramble(%q) left it unchanged", s)
		}
		a, b := graphemeClusters(s), graphemeClusters(got)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Errorf("scramble(%q) = %q changes the characters, not only their order", s, got)
		}
	}
}

// TestUnchangedControlIsAnError: a control that cannot corrupt a language's
// rows (repair_prompts with a single Japanese row has no other response to
// swap in) fails at open, naming the language, instead of passing silently.
func TestUnchangedControlIsAnError(t *testing.T) {
	c, o := openPath(t, "testdata/unchangeable.jsonl", "repair_prompts")
	_, diags, err := c.OpenTeacher(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !diags.HasErrors() {
		t.Fatal("open succeeded for a control that changes no Japanese row")
	}
	if msg := diags.Err().Error(); !strings.Contains(msg, "ja: 0 of 1 rows changed") || !strings.Contains(msg, "min_changed") {
		t.Errorf("error does not say which language and what to do: %v", msg)
	}
	_, o = openPath(t, "testdata/unchangeable.jsonl", "swap_language")
	_, diags, err = c.OpenTeacher(t.Context(), o)
	if err != nil || diags.HasErrors() {
		t.Fatalf("swap_language changes every row but open failed: %v %v", err, diags.Err())
	}
}
