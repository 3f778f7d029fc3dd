package openai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/conformance"
	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

func suite() conformance.Suite {
	return conformance.Suite{
		Teacher:        New(),
		BaseURL:        func(root string) string { return root + "/v1" },
		Model:          "gpt-test",
		BareRetryAfter: 6 * time.Minute,
		OverloadStatus: 503,
		ContentFilter:  true,
		Batch:          true,
	}
}

func TestConformance(t *testing.T) { conformance.Run(t, suite()) }

// wireCase checks what one configuration puts on the wire.
type wireCase struct {
	name  string
	attrs map[string]cty.Value
	call  *sdk.Call
	check func(t *testing.T, body map[string]any, h http.Header, r *sdk.Result)
}

func TestWireFormat(t *testing.T) {
	k, temp, seed := 20, 0.8, int64(11)
	userMsg := []sdk.Message{{Role: "system", Content: "Du bist ein Experte."}, {Role: "user", Content: "Schreibe etwas."}}
	cases := []wireCase{
		{"defaults", nil, &sdk.Call{ID: "a", Messages: userMsg, Sampling: sdk.Sampling{Temperature: &temp, TopK: &k, MaxTokens: 64, Seed: &seed, Stop: []string{"###"}}},
			func(t *testing.T, b map[string]any, h http.Header, r *sdk.Result) {
				if b["max_tokens"] != 64.0 || b["max_completion_tokens"] != nil || b["top_k"] != 20.0 || b["seed"] != 11.0 || b["temperature"] != 0.8 || b["response_format"] != nil {
					t.Errorf("body %v", b)
				}
				if h.Get("Authorization") != "Bearer "+conformance.Key {
					t.Errorf("Authorization header %q", h.Get("Authorization"))
				}
			}},
		{"max_completion_tokens, no top_k, headers, extra_body", map[string]cty.Value{
			"max_tokens_field": cty.StringVal("max_completion_tokens"), "send_top_k": cty.StringVal("never"),
			"organization": cty.StringVal("org-1"), "headers": cty.MapVal(map[string]cty.Value{"X-Trace": cty.StringVal("t1")}),
			"extra_body": cty.ObjectVal(map[string]cty.Value{"repetition_penalty": cty.NumberFloatVal(1.05), "chat_template_kwargs": cty.ObjectVal(map[string]cty.Value{"enable_thinking": cty.False})}),
		}, &sdk.Call{ID: "b", Messages: userMsg, Sampling: sdk.Sampling{TopK: &k, MaxTokens: 32}},
			func(t *testing.T, b map[string]any, h http.Header, r *sdk.Result) {
				if b["max_completion_tokens"] != 32.0 || b["max_tokens"] != nil || b["top_k"] != nil || b["repetition_penalty"] != 1.05 {
					t.Errorf("body %v", b)
				}
				if kw, _ := b["chat_template_kwargs"].(map[string]any); kw["enable_thinking"] != false {
					t.Errorf("nested extra_body lost: %v", b["chat_template_kwargs"])
				}
				if h.Get("OpenAI-Organization") != "org-1" || h.Get("X-Trace") != "t1" {
					t.Errorf("headers %v", h)
				}
			}},
		{"json_schema", nil, &sdk.Call{ID: "c", Messages: userMsg, Output: sdk.OutputFormat{JSON: true, JSONSchema: `{"type":"object"}`}},
			func(t *testing.T, b map[string]any, h http.Header, r *sdk.Result) {
				rf, _ := b["response_format"].(map[string]any)
				js, _ := rf["json_schema"].(map[string]any)
				if rf["type"] != "json_schema" || js["name"] == "" || js["schema"] == nil {
					t.Errorf("response_format %v", rf)
				}
			}},
		{"json_object", map[string]cty.Value{"structured_output": cty.StringVal("json_object")}, &sdk.Call{ID: "d", Messages: userMsg, Output: sdk.OutputFormat{JSON: true, JSONSchema: `{"type":"object"}`}},
			func(t *testing.T, b map[string]any, h http.Header, r *sdk.Result) {
				rf, _ := b["response_format"].(map[string]any)
				if rf["type"] != "json_object" || !strings.Contains(fmt.Sprint(b["messages"]), "JSON Schema") {
					t.Errorf("body %v", b)
				}
			}},
		{"none: instruction and extraction from prose", map[string]cty.Value{"structured_output": cty.StringVal("none")}, &sdk.Call{ID: "e", Messages: userMsg[1:], Output: sdk.OutputFormat{JSON: true}},
			func(t *testing.T, b map[string]any, h http.Header, r *sdk.Result) {
				msgs, _ := b["messages"].([]any)
				first, _ := msgs[0].(map[string]any)
				if b["response_format"] != nil || first["role"] != "system" || !strings.Contains(fmt.Sprint(first["content"]), "JSON") {
					t.Errorf("body %v", b)
				}
				if !strings.HasPrefix(r.Text, "{") || !json.Valid([]byte(r.Text)) {
					t.Errorf("text %q is not the bare object", r.Text)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeprovider.Start(t, fakeprovider.Options{APIKey: conformance.Key, Record: true})
			c, o := suite().Open(t, srv, tc.attrs)
			r := sdktest.Generate(t, c, o, tc.call)[0]
			if r.Err != nil {
				t.Fatalf("call failed: %v (%v)", r.Err, srv.Stats().Rejections)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			var body map[string]any
			if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
				t.Fatalf("request body %q: %v", reqs[0].Body, err)
			}
			tc.check(t, body, reqs[0].Header, r)
		})
	}
}

func TestOfficialHostDefaults(t *testing.T) {
	cfg := sdktest.Config(t, schema, nil)
	c, diags := parseConfig(sdk.Config{V: cfg})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if !c.useMaxCompletion || c.sendTopK {
		t.Errorf("api.openai.com: useMaxCompletion=%v sendTopK=%v, want true/false", c.useMaxCompletion, c.sendTopK)
	}
	cfg = sdktest.Config(t, schema, map[string]cty.Value{"base_url": cty.StringVal("http://127.0.0.1:8000/v1")})
	c, _ = parseConfig(sdk.Config{V: cfg})
	if c.useMaxCompletion || !c.sendTopK {
		t.Errorf("local server: useMaxCompletion=%v sendTopK=%v, want false/true", c.useMaxCompletion, c.sendTopK)
	}
	for attr, v := range map[string]string{"structured_output": "xml", "max_tokens_field": "tokens", "send_top_k": "maybe"} {
		cfg = sdktest.Config(t, schema, map[string]cty.Value{attr: cty.StringVal(v)})
		if _, diags := parseConfig(sdk.Config{V: cfg}); !diags.HasErrors() || sdk.PathString(diags[0].Path) != attr {
			t.Errorf("%s = %q: diagnostics %v", attr, v, diags)
		}
	}
	cfg = sdktest.Config(t, schema, map[string]cty.Value{"extra_body": cty.StringVal("top_k=5")})
	if _, diags := parseConfig(sdk.Config{V: cfg}); !diags.HasErrors() {
		t.Error("a string extra_body is accepted")
	}
}
