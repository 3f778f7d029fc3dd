package judge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

// chatServer speaks the OpenAI chat completions format. It answers with the
// file testdata/answers/<case>.txt, where <case> is the word after "CASE:"
// in the response being judged; case "http500" fails with HTTP 500 and an
// answer file named *.length.txt is returned with finish_reason "length".
type chatServer struct {
	mu       sync.Mutex
	requests []map[string]any
}

func (s *chatServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model    string        `json:"model"`
		Messages []sdk.Message `json:"messages"`
		Format   any           `json:"response_format"`
	}
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path != "/v1/chat/completions" || json.Unmarshal(body, &req) != nil || len(req.Messages) == 0 {
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
		return
	}
	var raw map[string]any
	json.Unmarshal(body, &raw)
	s.mu.Lock()
	s.requests = append(s.requests, raw)
	s.mu.Unlock()
	user := req.Messages[len(req.Messages)-1].Content
	_, after, ok := strings.Cut(user, "CASE:")
	if !ok {
		http.Error(w, `{"error":{"message":"no CASE marker"}}`, http.StatusBadRequest)
		return
	}
	name := strings.Fields(after)[0]
	if name == "http500" {
		http.Error(w, `{"error":{"message":"model crashed"}}`, http.StatusInternalServerError)
		return
	}
	finish := "stop"
	text, err := os.ReadFile(filepath.Join("testdata", "answers", name+".txt"))
	if err != nil {
		if text, err = os.ReadFile(filepath.Join("testdata", "answers", name+".length.txt")); err != nil {
			http.Error(w, `{"error":{"message":"no such case"}}`, http.StatusNotFound)
			return
		}
		finish = "length"
	}
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": finish, "message": map[string]any{"role": "assistant", "content": strings.TrimSuffix(string(text), "\n")}}},
		"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 5},
	})
}

// chatHost is a fake sdk.Host whose one teacher, "prometheus", is a tiny
// OpenAI chat completions client pointed at a chatServer.
type chatHost struct {
	url string

	mu        sync.Mutex
	generates int
	calls     []*sdk.Call
}

func (h *chatHost) Generate(ctx context.Context, teacher string, calls []*sdk.Call) ([]*sdk.Result, error) {
	if teacher != "prometheus" {
		return nil, fmt.Errorf("no teacher block named %q", teacher)
	}
	h.mu.Lock()
	h.generates++
	h.calls = append(h.calls, calls...)
	h.mu.Unlock()
	out := make([]*sdk.Result, len(calls))
	for i, c := range calls {
		out[i] = h.chat(ctx, c)
	}
	return out, nil
}

func (h *chatHost) chat(ctx context.Context, c *sdk.Call) *sdk.Result {
	req := map[string]any{"model": "m-prometheus-14b", "messages": c.Messages, "max_tokens": c.Sampling.MaxTokens}
	if c.Output.JSON {
		req["response_format"] = map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "verdict", "schema": json.RawMessage(c.Output.JSONSchema)}}
	}
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/v1/chat/completions", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return &sdk.Result{ID: c.ID, Err: &sdk.CallError{Code: sdk.ErrUnknown, Message: err.Error()}}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return &sdk.Result{ID: c.ID, Err: &sdk.CallError{Code: sdk.ErrServer, HTTPStatus: resp.StatusCode, Message: strings.TrimSpace(string(raw))}}
	}
	var cr struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
			Message      struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(raw, &cr); err != nil || len(cr.Choices) == 0 {
		return &sdk.Result{ID: c.ID, Err: &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: string(raw)}}
	}
	return &sdk.Result{ID: c.ID, Text: cr.Choices[0].Message.Content, FinishReason: cr.Choices[0].FinishReason}
}

func (h *chatHost) RunJob(context.Context, *sdk.Job, func(string)) (*sdk.JobResult, error) {
	return nil, fmt.Errorf("the judge test host runs no jobs")
}

func config(t testing.TB, attrs map[string]cty.Value) sdk.Config {
	t.Helper()
	return sdk.Config{V: sdktest.Config(t, Metric{}.Describe().Schema, attrs)}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

// judged is what one example should come back as; nil scores mean a failure.
type judged struct {
	scores []float64 // proficiency, cultural_fit, helpfulness
	note   string
}

var cases = []struct {
	name string
	want judged
}{
	{"valid", judged{[]float64{4, 5, 3}, "Fluent and apt"}},
	{"fenced", judged{[]float64{2, 3, 4}, "Stiff but correct"}},
	{"prose", judged{[]float64{5, 5, 5}, "Excellent"}},
	{"flat", judged{[]float64{1, 2, 3}, ""}},
	{"unparsable", judged{nil, "contains no JSON object"}},
	{"zero", judged{nil, `"proficiency": score 0 is outside 1–5`}},
	{"six", judged{nil, `"helpfulness": score 6 is outside 1–5`}},
	{"fiveword", judged{nil, `"cultural_fit": score "five" is not a number`}},
	{"missing", judged{nil, `criterion "helpfulness" is missing`}},
	{"truncated", judged{nil, "raise max_tokens"}},
	{"http500", judged{nil, "judge call failed: server (HTTP 500)"}},
}

func TestJudgeThroughHost(t *testing.T) {
	srv := &chatServer{}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	var exs []sdk.Example
	for _, c := range cases {
		exs = append(exs, sdk.Example{ID: "ex-" + c.name, Prompt: "Erkläre die Mülltrennung.", Response: "Antwort CASE:" + c.name + " Ende."})
	}
	for _, policy := range []string{Drop, ScoreAs1} {
		t.Run(policy, func(t *testing.T) {
			host := &chatHost{url: hs.URL}
			acc, ds := Metric{}.Open(context.Background(), sdk.MetricRequest{
				Config:   config(t, map[string]cty.Value{"teacher": cty.StringVal("prometheus"), "on_parse_failure": cty.StringVal(policy), "batch": cty.NumberIntVal(4)}),
				Language: "de", Cell: "gpt/de", Host: host,
			})
			if ds.HasErrors() {
				t.Fatal(ds.Err())
			}
			// Two Adds, as the host streams batches.
			v1, err := acc.Add(context.Background(), exs[:5])
			if err != nil {
				t.Fatal(err)
			}
			v2, err := acc.Add(context.Background(), exs[5:])
			if err != nil {
				t.Fatal(err)
			}
			vals := append(v1, v2...)
			if len(vals) != len(exs) {
				t.Fatalf("%d values for %d examples", len(vals), len(exs))
			}
			var sum, scored float64
			for i, c := range cases {
				v := vals[i]
				if v.ID != exs[i].ID {
					t.Fatalf("value %d has id %q, want %q", i, v.ID, exs[i].ID)
				}
				if !strings.Contains(v.Note, c.want.note) {
					t.Errorf("%s: note %q does not say %q", c.name, v.Note, c.want.note)
				}
				want := c.want.scores
				if want == nil {
					if policy == Drop {
						if v.Values != nil {
							t.Errorf("%s: a dropped failure has values %v", c.name, v.Values)
						}
						continue
					}
					want = []float64{1, 1, 1}
					if !strings.Contains(v.Note, "scored as 1") {
						t.Errorf("%s: note %q does not say the example was scored as 1", c.name, v.Note)
					}
				}
				overall := (want[0] + want[1] + want[2]) / 3
				for k, crit := range DefaultCriteria {
					if v.Values[crit] != want[k] {
						t.Errorf("%s: %s = %g, want %g", c.name, crit, v.Values[crit], want[k])
					}
				}
				if !near(v.Values["overall"], overall) {
					t.Errorf("%s: overall %g, want %g", c.name, v.Values["overall"], overall)
				}
				sum += overall
				scored++
			}
			rest, agg, err := acc.Finish(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 0 {
				t.Errorf("Finish returned %d values; Add returned them all", len(rest))
			}
			wantAgg := map[string]float64{
				"value": sum / scored, "n": scored, "examples": 11,
				"parse_failures": 6, "call_failures": 1, "failures": 7, "failure_rate": 7.0 / 11, "extracted": 2,
			}
			if policy == Drop {
				wantAgg["mean_proficiency"] = (4 + 2 + 5 + 1) / 4.0
			} else {
				wantAgg["mean_proficiency"] = (4 + 2 + 5 + 1 + 7) / 11.0
			}
			for k, w := range wantAgg {
				if !near(agg.Values[k], w) {
					t.Errorf("aggregate %s = %g, want %g", k, agg.Values[k], w)
				}
			}
			// 5 then 6 examples in calls of at most 4: 2 + 2 requests.
			if host.generates != 4 {
				t.Errorf("%d Generate requests for batches of 5 and 6 with batch = 4; want 4", host.generates)
			}
		})
	}
}

// TestCallsCarryTheRubric checks what the judge sends: the rubric in the
// language's English name, the example, a JSON schema of the verdict, the
// token limit and metadata.
func TestCallsCarryTheRubric(t *testing.T) {
	hs := httptest.NewServer(&chatServer{})
	defer hs.Close()
	for _, tc := range []struct {
		lang, name string
		attrs      map[string]cty.Value
		criteria   []string
		rubricSays string
	}{
		{"de", "German", nil, DefaultCriteria, "meant to be in German"},
		{"ja", "Japanese", map[string]cty.Value{"max_tokens": cty.NumberIntVal(300), "temperature": cty.NumberFloatVal(0)}, DefaultCriteria, "meant to be in Japanese"},
		{"tl", "Tagalog", map[string]cty.Value{"criteria": cty.ListVal([]cty.Value{cty.StringVal("accuracy")}), "rubric": cty.StringVal("Rate the accuracy of this {language} answer.")}, []string{"accuracy"}, "this Tagalog answer"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			host := &chatHost{url: hs.URL}
			attrs := map[string]cty.Value{"teacher": cty.StringVal("prometheus")}
			for k, v := range tc.attrs {
				attrs[k] = v
			}
			acc, ds := Metric{}.Open(context.Background(), sdk.MetricRequest{Config: config(t, attrs), Language: tc.lang, Cell: "c/" + tc.lang, Host: host})
			if ds.HasErrors() {
				t.Fatal(ds.Err())
			}
			if _, err := acc.Add(context.Background(), []sdk.Example{{ID: "e1", Prompt: "PROMPT-TEXT", Response: "RESPONSE-TEXT CASE:valid"}}); err != nil {
				t.Fatal(err)
			}
			c := host.calls[0]
			if len(c.Messages) != 2 || c.Messages[0].Role != "system" || !strings.Contains(c.Messages[0].Content, tc.name) {
				t.Errorf("system message %v does not name %s", c.Messages, tc.name)
			}
			user := c.Messages[1].Content
			for _, want := range []string{tc.rubricSays, "PROMPT-TEXT", "RESPONSE-TEXT", `"` + tc.criteria[0] + `": <1-5>`} {
				if !strings.Contains(user, want) {
					t.Errorf("user message lacks %q:\n%s", want, user)
				}
			}
			if strings.Contains(user, "{language}") {
				t.Errorf("user message still has the {language} placeholder")
			}
			var schema struct {
				Properties struct {
					Scores struct {
						Required []string `json:"required"`
					} `json:"scores"`
				} `json:"properties"`
			}
			if !c.Output.JSON || json.Unmarshal([]byte(c.Output.JSONSchema), &schema) != nil || strings.Join(schema.Properties.Scores.Required, ",") != strings.Join(tc.criteria, ",") {
				t.Errorf("output format %+v does not ask for a verdict with %v", c.Output, tc.criteria)
			}
			wantTokens := DefaultMaxTokens
			if v, ok := tc.attrs["max_tokens"]; ok {
				f, _ := v.AsBigFloat().Int64()
				wantTokens = int(f)
				if c.Sampling.Temperature == nil || *c.Sampling.Temperature != 0 {
					t.Errorf("temperature not passed on: %+v", c.Sampling)
				}
			}
			if c.Sampling.MaxTokens != wantTokens {
				t.Errorf("max tokens %d, want %d", c.Sampling.MaxTokens, wantTokens)
			}
			if c.Metadata["step"] != "judge" || c.Metadata["example_id"] != "e1" || c.Metadata["language"] != tc.lang || c.Metadata["cell"] != "c/"+tc.lang {
				t.Errorf("metadata %v", c.Metadata)
			}
		})
	}
}

func TestHostErrors(t *testing.T) {
	hs := httptest.NewServer(&chatServer{})
	defer hs.Close()
	host := &chatHost{url: hs.URL}
	acc, ds := Metric{}.Open(context.Background(), sdk.MetricRequest{Config: config(t, map[string]cty.Value{"teacher": cty.StringVal("nobody")}), Language: "de", Host: host})
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	_, err := acc.Add(context.Background(), []sdk.Example{{ID: "1", Prompt: "p", Response: "CASE:valid"}})
	if err == nil || !strings.Contains(err.Error(), `teacher "nobody"`) {
		t.Fatalf("error %v, want one naming the teacher", err)
	}
	// A cell whose every verdict failed (with "drop") has no value: Finish
	// says why instead of returning a made-up number.
	acc, _ = Metric{}.Open(context.Background(), sdk.MetricRequest{Config: config(t, map[string]cty.Value{"teacher": cty.StringVal("prometheus")}), Language: "de", Host: host})
	if _, err := acc.Add(context.Background(), []sdk.Example{{ID: "u", Prompt: "p", Response: "CASE:unparsable"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.Finish(context.Background()); err == nil || !strings.Contains(err.Error(), "contains no JSON object") {
		t.Fatalf("Finish error %v, want the first failure's reason", err)
	}
}

// TestWithoutHost: over gRPC without host callbacks the judge refuses to
// open, with a diagnostic on teacher.
func TestWithoutHost(t *testing.T) {
	c := sdktest.Start(t, sdk.ServeOpts{Name: "judge", Version: "test", Metrics: []sdk.Metric{New()}})
	cfg := sdktest.Config(t, Metric{}.Describe().Schema, map[string]cty.Value{"teacher": cty.StringVal("prometheus")})
	s, ds, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "judge", Config: cfg, Language: "de", Cell: "x/de"})
	if err != nil {
		t.Fatal(err)
	}
	if s != nil || !ds.HasErrors() {
		t.Fatalf("the judge opened without a host")
	}
	if d := ds[0]; d.Summary != "the judge needs the host's teachers" || sdk.PathString(d.Path) != "teacher" || !strings.Contains(d.Detail, `"prometheus"`) {
		t.Errorf("diagnostic %+v", d)
	}
	// The description reaches the host intact.
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Components) != 1 || info.Components[0].Metric == nil || info.Components[0].Metric.Direction != "higher" {
		t.Errorf("info %+v", info)
	}
}

func TestValidateConfig(t *testing.T) {
	list := func(s ...string) cty.Value {
		var vs []cty.Value
		for _, x := range s {
			vs = append(vs, cty.StringVal(x))
		}
		if len(vs) == 0 {
			return cty.ListValEmpty(cty.String)
		}
		return cty.ListVal(vs)
	}
	for _, tc := range []struct {
		name  string
		attrs map[string]cty.Value
		path  string
	}{
		{"defaults", nil, ""},
		{"subset of the default criteria", map[string]cty.Value{"criteria": list("helpfulness")}, ""},
		{"custom criterion with rubric", map[string]cty.Value{"criteria": list("accuracy"), "rubric": cty.StringVal("Rate accuracy.")}, ""},
		{"custom criterion without rubric", map[string]cty.Value{"criteria": list("proficiency", "accuracy")}, "criteria[1]"},
		{"no criteria", map[string]cty.Value{"criteria": list()}, "criteria"},
		{"bad name", map[string]cty.Value{"criteria": list("Cultural Fit"), "rubric": cty.StringVal("r")}, "criteria[0]"},
		{"overall", map[string]cty.Value{"criteria": list("overall"), "rubric": cty.StringVal("r")}, "criteria[0]"},
		{"twice", map[string]cty.Value{"criteria": list("helpfulness", "helpfulness")}, "criteria[1]"},
		{"policy", map[string]cty.Value{"on_parse_failure": cty.StringVal("ignore")}, "on_parse_failure"},
		{"blank rubric", map[string]cty.Value{"rubric": cty.StringVal("  ")}, "rubric"},
		{"max_tokens", map[string]cty.Value{"max_tokens": cty.NumberIntVal(0)}, "max_tokens"},
		{"batch", map[string]cty.Value{"batch": cty.NumberIntVal(0)}, "batch"},
		{"temperature", map[string]cty.Value{"temperature": cty.NumberFloatVal(3)}, "temperature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attrs := map[string]cty.Value{"teacher": cty.StringVal("judge")}
			for k, v := range tc.attrs {
				attrs[k] = v
			}
			ds := Metric{}.ValidateConfig(context.Background(), config(t, attrs))
			if tc.path == "" {
				if ds.HasErrors() {
					t.Fatal(ds.Err())
				}
				return
			}
			if !ds.HasErrors() {
				t.Fatalf("no error; want one on %s", tc.path)
			}
			if got := sdk.PathString(ds[0].Path); got != tc.path {
				t.Errorf("error on %q (%s: %s), want on %q", got, ds[0].Summary, ds[0].Detail, tc.path)
			}
		})
	}
}

func TestLanguageName(t *testing.T) {
	for tag, want := range map[string]string{"de": "German", "ar": "Arabic", "ja": "Japanese", "tl": "Tagalog", "es-419": "Latin American Spanish", "cs": "Czech", "id": "Indonesian", "not a tag": "not a tag"} {
		if got := LanguageName(tag); got != want {
			t.Errorf("LanguageName(%q) = %q, want %q", tag, got, want)
		}
	}
}
