package strategy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
)

func TestResolveLanguage(t *testing.T) {
	for _, tc := range []struct {
		tag                  string
		name, native, script string
		err                  string
	}{
		{tag: "yo", name: "Yoruba", native: "Èdè Yorùbá", script: "Latin"},
		{tag: "sr-Latn", name: "Serbian (Latin)", native: "srpski", script: "Latin"},
		{tag: "sr", name: "Serbian", native: "српски", script: "Cyrillic"},
		{tag: "zh-Hant", name: "Traditional Chinese", native: "繁體中文", script: "Traditional Han"},
		{tag: "ar", name: "Arabic", native: "العربية", script: "Arabic"},
		{tag: "ja", name: "Japanese", native: "日本語", script: "Japanese"},
		{tag: "es-MX", name: "Mexican Spanish", native: "español de México", script: "Latin"},
		{tag: "x!", err: "not a valid BCP-47 tag"},
		{tag: "und", err: "has no name in CLDR"},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			l, err := ResolveLanguage(tc.tag)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Language{Tag: tc.tag, Name: tc.name, Native: tc.native, Script: tc.script}
			if d := cmp.Diff(want, l); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestSameLanguage(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"es", "es-MX", true},
		{"zh-Hant", "zh-TW", true},
		{"zh-Hant", "zh", false},
		{"sr-Latn", "sr", false},
		{"sr", "sr-Cyrl", true},
		{"de", "en", false},
		{"", "en", false},
	} {
		if got := SameLanguage(tc.a, tc.b); got != tc.want {
			t.Errorf("SameLanguage(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestLoadTemplate(t *testing.T) {
	for _, tc := range []struct {
		file string
		err  string // substring; "" = loads
	}{
		{"good.txt", ""},
		{"unknown.txt", "unknown.txt:2:7: {{langauge}}: unknown placeholder. Did you mean {{language}}?"},
		{"unclosed.txt", "unclosed.txt:2:7: \"{{\" is never closed"},
		{"badstep.txt", "badstep.txt:1:5: {{steps.gen}}: a step output is written {{steps.STEP.text}}"},
		{"badliteral.txt", "badliteral.txt:2:1: {{\"\\q\"}} is not a valid quoted literal"},
		{"missing.txt", "no such file"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadTemplate(filepath.Join("testdata", "templates", tc.file))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestRender(t *testing.T) {
	tpl, err := LoadTemplate(filepath.Join("testdata", "templates", "good.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(Vars{"language": "Yoruba", "language_native": "Èdè Yorùbá", "script": "Latin", "seed.prompt": "Kí ni?"})
	if err != nil {
		t.Fatal(err)
	}
	want := "Hello Yoruba (Èdè Yorùbá), script Latin.\nSeed: Kí ni?\nLiteral: {{x}}\n"
	if got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	if _, err := tpl.Render(Vars{"language": "Yoruba"}); err == nil || !strings.Contains(err.Error(), "good.txt:1:23: no value for {{language_native}}") {
		t.Errorf("missing value: %v", err)
	}
}

// loadExample copies the example strategies next to the test experiment,
// as a user would, and loads the result with the spec package.
func loadExample(t *testing.T) (*spec.Experiment, []Row) {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, filepath.Join("testdata", "experiment"), dir)
	copyTree(t, filepath.Join("..", "..", "examples", "strategies"), dir)
	exp, diags := spec.LoadDir(dir, spec.LoadOptions{Env: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatalf("loading the example strategies: %s", diags.Error())
	}
	return exp, readRows(t, exp)
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readRows reads the JSONL seed sets through their column mapping.
func readRows(t *testing.T, exp *spec.Experiment) []Row {
	t.Helper()
	var rows []Row
	for _, s := range exp.SeedSets {
		for _, f := range s.Files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("%s:%d: %v", f, i+1, err)
				}
				str := func(k string) string { s, _ := m[k].(string); return s }
				list := func(k string) []string {
					var out []string
					for _, v := range asSlice(m[k]) {
						out = append(out, fmt.Sprint(v))
					}
					return out
				}
				r := Row{Set: s.Name, ID: str(s.Columns.ID), Prompt: str(s.Columns.Prompt), Response: str(s.Columns.Response),
					Language: str(s.Columns.Language), Strategies: list(s.Columns.Strategies), Tags: list(s.Columns.Tags)}
				if s.Language != "" {
					r.Language = s.Language
				}
				rows = append(rows, r)
			}
		}
	}
	return rows
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func strategyNamed(t *testing.T, exp *spec.Experiment, name string) *spec.Strategy {
	t.Helper()
	for _, s := range exp.Strategies {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no strategy %q", name)
	return nil
}

func ids(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

func TestEligibleFollowsTheInputBlock(t *testing.T) {
	exp, rows := loadExample(t)
	for _, tc := range []struct {
		strategy, language string
		tags               []string
		seeds              string
		want               []string
	}{
		{"generate", "yo", nil, "", []string{"yo-1", "yo-2", "yo-3", "yo-4"}}, // yo-5 only feeds respond
		{"respond", "yo", nil, "", []string{"yo-1", "yo-2", "yo-3", "yo-4", "yo-5"}},
		{"respond", "sr-Latn", nil, "", []string{"sr-1", "sr-2", "sr-3", "sr-4"}}, // not the Cyrillic row
		{"respond", "zh-Hant", nil, "", []string{"zh-1", "zh-2", "zh-3", "zh-4"}}, // zh-TW yes, zh (Hans) no
		{"translate", "yo", nil, "", []string{"en-1", "en-2", "en-3", "en-4"}},
		{"translate_then_respond", "zh-Hant", nil, "", []string{"en-1", "en-2", "en-4"}},
		{"translate", "yo", []string{"math", "science"}, "", []string{"en-1", "en-3"}},
		{"translate", "yo", nil, "native", nil},
	} {
		t.Run(fmt.Sprint(tc.strategy, tc.language, tc.tags, tc.seeds), func(t *testing.T) {
			st := *strategyNamed(t, exp, tc.strategy)
			st.Input.Tags = tc.tags
			st.Input.Seeds = tc.seeds
			if d := cmp.Diff(tc.want, ids(Eligible(&st, rows, tc.language))); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestExpandIsDeterministicAndWellFormed(t *testing.T) {
	exp, rows := loadExample(t)
	gen := strategyNamed(t, exp, "generate")
	for _, lang := range []string{"yo", "sr-Latn", "zh-Hant"} {
		t.Run(lang, func(t *testing.T) {
			reqs := Expand(gen, rows, lang, 25, 7)
			if len(reqs) != 25 {
				t.Fatalf("%d requests, want 25", len(reqs))
			}
			// Same inputs, same requests, whatever the row order.
			rev := append([]Row(nil), rows...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			if d := cmp.Diff(reqs, Expand(gen, rev, lang, 25, 7)); d != "" {
				t.Fatalf("not deterministic:\n%s", d)
			}
			// A smaller n is a prefix.
			if d := cmp.Diff(reqs[:10], Expand(gen, rows, lang, 10, 7)); d != "" {
				t.Errorf("n=10 is not a prefix of n=25:\n%s", d)
			}
			// Another seed selects differently.
			if cmp.Equal(reqs, Expand(gen, rows, lang, 25, 8)) {
				t.Error("seed 8 gave the same requests as seed 7")
			}
			pool := len(Eligible(gen, rows, lang))
			seen := map[string]bool{}
			count := map[string]int{}
			for i, r := range reqs {
				if seen[r.ID] {
					t.Errorf("duplicate request ID %s", r.ID)
				}
				seen[r.ID] = true
				if !strings.HasPrefix(r.ID, fmt.Sprintf("generate-%s-%06d-", lang, i)) {
					t.Errorf("request %d has ID %s", i, r.ID)
				}
				if !SameLanguage(r.Seed.Language, lang) {
					t.Errorf("request %d: seed row in %s", i, r.Seed.Language)
				}
				if len(r.Examples) != min(3, pool-1) {
					t.Errorf("request %d: %d examples", i, len(r.Examples))
				}
				exIDs := map[string]bool{r.Seed.ID: true}
				for _, e := range r.Examples {
					if exIDs[e.ID] {
						t.Errorf("request %d: example %s repeats the seed or another example", i, e.ID)
					}
					exIDs[e.ID] = true
				}
				if want := TaskFamilies[i%10].Name; r.TaskFamily != want {
					t.Errorf("request %d: family %q, want %q", i, r.TaskFamily, want)
				}
				count[r.Seed.ID]++
			}
			// Rows are used evenly: each once per pass over the pool.
			for id, c := range count {
				if c < 25/pool || c > 25/pool+1 {
					t.Errorf("row %s used %d times in 25 requests over %d rows", id, c, pool)
				}
			}
		})
	}
	// Strategies that do not use {{task_family}} get none.
	for _, r := range Expand(strategyNamed(t, exp, "respond"), rows, "yo", 5, 1) {
		if r.TaskFamily != "" || len(r.Examples) != 0 {
			t.Errorf("respond request %s: family %q, %d examples", r.ID, r.TaskFamily, len(r.Examples))
		}
	}
	if got := Expand(gen, rows, "tl", 5, 1); got != nil {
		t.Errorf("no Tagalog rows, yet %d requests", len(got))
	}
}

// TestExampleStrategiesRender runs every example strategy for three
// languages through BuildCall, fake step outputs and Emit.
func TestExampleStrategiesRender(t *testing.T) {
	exp, rows := loadExample(t)
	if len(exp.Strategies) != 4 {
		t.Fatalf("loaded %d strategies, want 4", len(exp.Strategies))
	}
	for _, st := range exp.Strategies {
		if err := Validate(st); err != nil {
			t.Errorf("example strategy %s: %v", st.Name, err)
		}
	}
	names := map[string]string{"yo": "Yoruba (Èdè Yorùbá)", "sr-Latn": "Serbian (Latin) (srpski)", "zh-Hant": "Traditional Chinese (繁體中文)"}
	for _, lang := range exp.Languages {
		l, err := ResolveLanguage(lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range exp.Strategies {
			t.Run(st.Name+"/"+lang, func(t *testing.T) {
				reqs := Expand(st, rows, lang, 6, 1)
				if len(reqs) != 6 {
					t.Fatalf("%d requests", len(reqs))
				}
				for _, req := range reqs {
					outputs := map[string]StepOutput{}
					var calls []*sdk.Call
					for si, step := range st.Steps {
						call, err := BuildCall(step, &req, outputs, l)
						if err != nil {
							t.Fatal(err)
						}
						calls = append(calls, call)
						user := call.Messages[len(call.Messages)-1]
						if user.Role != "user" || strings.Contains(user.Content, "{{") {
							t.Fatalf("user message not rendered: %+v", user)
						}
						if step.System != "" {
							sys := call.Messages[0]
							if sys.Role != "system" || !strings.Contains(sys.Content, "expert in "+names[lang]) || !strings.Contains(sys.Content, l.Script) {
								t.Errorf("system message: %q", sys.Content)
							}
						}
						md := call.Metadata
						if md["strategy"] != st.Name || md["step"] != step.Name || md["language"] != lang || md["seed_id"] != req.Seed.ID || md["task_family"] != req.TaskFamily {
							t.Errorf("metadata %v", md)
						}
						if call.Sampling.MaxTokens != *step.MaxTokens {
							t.Errorf("max tokens %d", call.Sampling.MaxTokens)
						}
						// A fake teacher answers: JSON steps in a fenced block.
						var res sdk.Result
						if step.Output == "json" {
							if !call.Output.JSON || !strings.Contains(call.Output.JSONSchema, `"required":["prompt","response"]`) {
								t.Errorf("output format %+v", call.Output)
							}
							res = sdk.Result{Text: fmt.Sprintf("Sure!\n```json\n{\"prompt\": \"P%d %s\", \"response\": \"R%d\"}\n```", si, lang, si), FinishReason: "stop"}
						} else {
							res = sdk.Result{Text: fmt.Sprintf("T%d %s %s", si, lang, req.Seed.ID), FinishReason: "stop"}
						}
						out, fail := ParseOutput(step, &res, 1000)
						if fail != nil {
							t.Fatal(fail)
						}
						outputs[step.Name] = out
					}
					p, r, err := Emit(st, &req, outputs)
					if err != nil {
						t.Fatal(err)
					}
					switch st.Name {
					case "generate":
						if req.TaskFamily == "" || !strings.Contains(calls[0].Messages[1].Content, familyDescription(req.TaskFamily)) {
							t.Errorf("generate prompt lacks the task family %q", req.TaskFamily)
						}
						for _, e := range req.Examples {
							if !strings.Contains(calls[0].Messages[1].Content, e.Prompt) {
								t.Errorf("in-context example %s missing", e.ID)
							}
						}
						if p != "P0 "+lang || r != "R0" {
							t.Errorf("emit (%q, %q)", p, r)
						}
					case "translate":
						if !strings.Contains(calls[0].Messages[1].Content, req.Seed.Prompt) || p != "P0 "+lang || r != "R0" {
							t.Errorf("translate: emit (%q, %q)", p, r)
						}
					case "respond":
						if calls[0].Messages[1].Content != req.Seed.Prompt+"\n" || p != req.Seed.Prompt || r != "T0 "+lang+" "+req.Seed.ID {
							t.Errorf("respond: user %q, emit (%q, %q)", calls[0].Messages[1].Content, p, r)
						}
					case "translate_then_respond":
						// Step 1 goes to the MT teacher with the English prompt and no
						// system message; step 2 answers exactly what step 1 returned.
						if st.Steps[0].Teacher != "mt" || st.Steps[1].Teacher != "self" {
							t.Errorf("teachers %q, %q", st.Steps[0].Teacher, st.Steps[1].Teacher)
						}
						if len(calls[0].Messages) != 1 || !strings.Contains(calls[0].Messages[0].Content, req.Seed.Prompt) || !strings.Contains(calls[0].Messages[0].Content, l.Name) {
							t.Errorf("MT call %+v", calls[0].Messages)
						}
						step1 := "T0 " + lang + " " + req.Seed.ID
						if calls[1].Messages[1].Content != step1+"\n" {
							t.Errorf("step 2 user message %q, want step 1's output", calls[1].Messages[1].Content)
						}
						if p != step1 || r != "T1 "+lang+" "+req.Seed.ID {
							t.Errorf("emit (%q, %q)", p, r)
						}
					}
				}
			})
		}
	}
}

func step(output string, schema map[string]string) *spec.Step {
	return &spec.Step{Name: "s", Output: output, Schema: schema}
}

func TestParseOutput(t *testing.T) {
	pr := map[string]string{"prompt": "string", "response": "string"}
	for _, tc := range []struct {
		name   string
		step   *spec.Step
		res    *sdk.Result
		max    int
		reason string
		fields map[string]any
		text   string
	}{
		{name: "text", step: step("text", nil), res: &sdk.Result{Text: "  Ẹ káàárọ̀ \n"}, text: "Ẹ káàárọ̀"},
		{name: "strict json", step: step("json", pr), res: &sdk.Result{Text: `{"prompt":"p","response":"r","extra":1}`}, fields: map[string]any{"prompt": "p", "response": "r", "extra": json.Number("1")}},
		{name: "fenced json", step: step("json", pr), res: &sdk.Result{Text: "Here you go:\n```json\n{\"prompt\": \"a {b}\", \"response\": \"c\\\"}\"}\n```\nEnjoy"}, fields: map[string]any{"prompt": "a {b}", "response": "c\"}"}},
		{name: "prose with braces first", step: step("json", pr), res: &sdk.Result{Text: "Use {curly} braces: {\"prompt\": \"p\", \"response\": \"r\"}"}, fields: map[string]any{"prompt": "p", "response": "r"}},
		{name: "typed fields", step: step("json", map[string]string{"n": "integer", "x": "number", "ok": "bool", "xs": "array", "o": "object"}), res: &sdk.Result{Text: `{"n": 3, "x": 2.5, "ok": true, "xs": [1], "o": {"a": 1}}`}, fields: map[string]any{"n": json.Number("3"), "x": json.Number("2.5"), "ok": true, "xs": []any{json.Number("1")}, "o": map[string]any{"a": json.Number("1")}}},
		{name: "not json", step: step("json", pr), res: &sdk.Result{Text: "I cannot do that."}, reason: "parse_error"},
		{name: "array not object", step: step("json", pr), res: &sdk.Result{Text: `["prompt", "response"]`}, reason: "parse_error"},
		{name: "empty", step: step("text", nil), res: &sdk.Result{Text: " \n "}, reason: "empty"},
		{name: "nil result", step: step("text", nil), res: nil, reason: "empty"},
		{name: "truncated", step: step("json", pr), res: &sdk.Result{Text: `{"prompt": "p", "resp`, FinishReason: "length"}, reason: "truncated"},
		{name: "too long text", step: step("text", nil), res: &sdk.Result{Text: "日本語です"}, max: 4, reason: "too_long"},
		{name: "fits in characters not bytes", step: step("text", nil), res: &sdk.Result{Text: "日本語です"}, max: 5, text: "日本語です"},
		{name: "too long field", step: step("json", pr), res: &sdk.Result{Text: `{"prompt": "p", "response": "abcdef"}`}, max: 5, reason: "too_long"},
		{name: "missing field", step: step("json", pr), res: &sdk.Result{Text: `{"prompt": "p"}`}, reason: "missing_field:response"},
		{name: "blank field", step: step("json", pr), res: &sdk.Result{Text: `{"prompt": "  ", "response": "r"}`}, reason: "missing_field:prompt"},
		{name: "null field", step: step("json", pr), res: &sdk.Result{Text: `{"prompt": null, "response": "r"}`}, reason: "missing_field:prompt"},
		{name: "wrong type", step: step("json", pr), res: &sdk.Result{Text: `{"prompt": 5, "response": "r"}`}, reason: "bad_field:prompt"},
		{name: "not an integer", step: step("json", map[string]string{"n": "integer"}), res: &sdk.Result{Text: `{"n": 2.5}`}, reason: "bad_field:n"},
		{name: "call error", step: step("text", nil), res: &sdk.Result{Err: &sdk.CallError{Code: sdk.ErrContentFiltered, Message: "blocked"}}, reason: "call_error:content_filtered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, fail := ParseOutput(tc.step, tc.res, tc.max)
			if tc.reason != "" {
				if fail == nil || fail.Reason != tc.reason {
					t.Fatalf("failure %v, want %s", fail, tc.reason)
				}
				if tc.res != nil && tc.res.Err == nil && fail.Raw != tc.res.Text {
					t.Errorf("raw text not kept: %q", fail.Raw)
				}
				return
			}
			if fail != nil {
				t.Fatalf("unexpected failure %v", fail)
			}
			if tc.fields != nil {
				if d := cmp.Diff(tc.fields, out.Fields); d != "" {
					t.Error(d)
				}
				var back map[string]any
				if err := json.Unmarshal([]byte(out.Text), &back); err != nil {
					t.Errorf("Text is not the JSON object: %q", out.Text)
				}
			} else if out.Text != tc.text {
				t.Errorf("text %q, want %q", out.Text, tc.text)
			}
		})
	}
}

func TestEmitErrors(t *testing.T) {
	req := &Request{Seed: Row{ID: "s1", Prompt: "p", Language: "yo"}}
	outs := map[string]StepOutput{"a": {Text: "t"}, "j": {Text: `{"x":[1,2]}`, Fields: map[string]any{"x": []any{json.Number("1"), json.Number("2")}, "n": json.Number("7")}}}
	for _, tc := range []struct {
		prompt, response string
		want             [2]string
		err              string
	}{
		{"seed.prompt", "steps.a.text", [2]string{"p", "t"}, ""},
		{"steps.j.n", "steps.j.x", [2]string{"7", "[1,2]"}, ""},
		{"seed.language", "seed.id", [2]string{"yo", "s1"}, ""},
		{"seed.prompt", "seed.response", [2]string{}, `"seed.response" is empty for seed row "s1"`},
		{"steps.b.text", "steps.a.text", [2]string{}, `step "b" has no output`},
		{"steps.j.y", "steps.a.text", [2]string{}, `step "j" returned no field "y"`},
		{"seed.colour", "steps.a.text", [2]string{}, "unknown seed field"},
		{"prompt", "steps.a.text", [2]string{}, "is not a source"},
	} {
		st := &spec.Strategy{Name: "x", Emit: spec.Emit{Prompt: tc.prompt, Response: tc.response}}
		p, r, err := Emit(st, req, outs)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s/%s: err %v, want %q", tc.prompt, tc.response, err, tc.err)
			}
			continue
		}
		if err != nil || [2]string{p, r} != tc.want {
			t.Errorf("%s/%s: (%q, %q, %v), want %q", tc.prompt, tc.response, p, r, err, tc.want)
		}
	}
}

func TestValidateReportsPositions(t *testing.T) {
	dir := filepath.Join("testdata", "templates")
	abs, _ := filepath.Abs(dir)
	forward := filepath.Join(abs, "forward.txt")
	good := filepath.Join(abs, "good.txt")
	writeFile := func(name, text string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	usesField := writeFile("field.txt", "x {{steps.gen.title}} {{steps.gen.prompt}}\n{{steps.ans.prompt}}")
	usesExamples := writeFile("ex.txt", "{{examples}}")
	for _, tc := range []struct {
		name  string
		st    *spec.Strategy
		wants []string
	}{
		{"fine", &spec.Strategy{Name: "ok", Steps: []*spec.Step{{Name: "a", Template: good, Output: "text"}}}, nil},
		{"forward reference", &spec.Strategy{Name: "f", Steps: []*spec.Step{{Name: "first", Template: forward}, {Name: "later", Template: good}}},
			[]string{"forward.txt:1:7: {{steps.later.text}}: no earlier step has that name; this is the first step"}},
		{"fields", &spec.Strategy{Name: "g", Steps: []*spec.Step{
			{Name: "gen", Template: good, Output: "json", Schema: map[string]string{"prompt": "string", "response": "string"}},
			{Name: "ans", Template: good, Output: "text"},
			{Name: "use", Template: usesField}}},
			[]string{`field.txt:1:3: {{steps.gen.title}}: step "gen"'s schema has no field "title"; fields: prompt, response`,
				`field.txt:2:1: {{steps.ans.prompt}}: step "ans" returns text; use {{steps.ans.text}}`}},
		{"examples without in_context", &spec.Strategy{Name: "e", Steps: []*spec.Step{{Name: "a", Template: usesExamples}}}, []string{"ex.txt:1:1: {{examples}}: the strategy has in_context = 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.st)
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func f64(v float64) *float64 { return &v }
func i(v int) *int           { return &v }

func TestSampling(t *testing.T) {
	for _, tc := range []struct {
		name    string
		teacher spec.Teacher
		step    *spec.Step
		want    sdk.Sampling
	}{
		{"gemma", spec.Teacher{Family: "Gemma3"}, nil, sdk.Sampling{Temperature: f64(1), TopP: f64(0.95), TopK: i(64)}},
		{"llama", spec.Teacher{Family: "llama-3.1"}, nil, sdk.Sampling{Temperature: f64(0.6), TopP: f64(0.9)}},
		{"aya", spec.Teacher{Family: "aya"}, nil, sdk.Sampling{Temperature: f64(0.3)}},
		{"command", spec.Teacher{Family: "command-r"}, nil, sdk.Sampling{Temperature: f64(0.3)}},
		{"cohere", spec.Teacher{Family: "cohere"}, nil, sdk.Sampling{Temperature: f64(0.3)}},
		{"default", spec.Teacher{Family: "qwen"}, nil, sdk.Sampling{Temperature: f64(0.8), TopP: f64(0.9)}},
		{"teacher overrides", spec.Teacher{Family: "gemma", Sampling: spec.Sampling{Temperature: f64(0.2), MaxTokens: i(512), Stop: []string{"##"}}}, nil,
			sdk.Sampling{Temperature: f64(0.2), TopP: f64(0.95), TopK: i(64), MaxTokens: 512, Stop: []string{"##"}}},
		{"step max tokens wins", spec.Teacher{Family: "llama", Sampling: spec.Sampling{MaxTokens: i(512)}}, &spec.Step{MaxTokens: i(2048)},
			sdk.Sampling{Temperature: f64(0.6), TopP: f64(0.9), MaxTokens: 2048}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, ResolveSampling(&tc.teacher, tc.step)); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestJSONSchema(t *testing.T) {
	got := JSONSchema(map[string]string{"response": "string", "score": "integer", "ok": "bool"})
	want := `{"additionalProperties":false,"properties":{"ok":{"type":"boolean"},"response":{"type":"string"},"score":{"type":"integer"}},"required":["ok","response","score"],"type":"object"}`
	if got != want {
		t.Errorf("JSONSchema =\n%s\nwant\n%s", got, want)
	}
}
