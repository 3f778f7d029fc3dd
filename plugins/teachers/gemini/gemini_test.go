package gemini

import (
	"encoding/json"
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
		BaseURL:        func(root string) string { return root },
		Model:          "gemini-test",
		BareRetryAfter: 6 * time.Minute, // RetryInfo.retryDelay in the body
		OverloadStatus: 503,
		ContentFilter:  true,
	}
}

func TestConformance(t *testing.T) { conformance.Run(t, suite()) }

func TestWireFormat(t *testing.T) {
	schemaJSON := `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"prompt":{"type":"string"},"response":{"type":"string"}},"required":["prompt","response"],"additionalProperties":false}`
	temp, topP, k, seed := 1.0, 0.95, 64, int64(5)
	for _, tc := range []struct {
		mode  string
		check func(t *testing.T, gc map[string]any, sys string)
	}{
		{"response_schema", func(t *testing.T, gc map[string]any, sys string) {
			rs, _ := gc["responseSchema"].(map[string]any)
			if gc["responseMimeType"] != "application/json" || rs["type"] != "object" || rs["additionalProperties"] != nil || rs["$schema"] != nil {
				t.Errorf("generationConfig %v", gc)
			}
			if strings.Contains(sys, "JSON") {
				t.Errorf("the schema went to the prompt too: %q", sys)
			}
		}},
		{"response_json_schema", func(t *testing.T, gc map[string]any, sys string) {
			rs, _ := gc["responseJsonSchema"].(map[string]any)
			if gc["responseSchema"] != nil || rs["additionalProperties"] != false {
				t.Errorf("generationConfig %v", gc)
			}
		}},
		{"none", func(t *testing.T, gc map[string]any, sys string) {
			if gc["responseMimeType"] != nil || !strings.Contains(sys, "JSON Schema") {
				t.Errorf("generationConfig %v, system %q", gc, sys)
			}
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			srv := fakeprovider.Start(t, fakeprovider.Options{APIKey: conformance.Key, Record: true})
			c, o := suite().Open(t, srv, map[string]cty.Value{"structured_output": cty.StringVal(tc.mode)})
			o.Model = "models/gemini-test"
			r := sdktest.Generate(t, c, o, &sdk.Call{ID: "a", Messages: []sdk.Message{
				{Role: "system", Content: "Du bist ein Experte."}, {Role: "user", Content: "Hallo"}, {Role: "assistant", Content: "Hallo!"}, {Role: "user", Content: "Erzeuge etwas."},
			}, Sampling: sdk.Sampling{Temperature: &temp, TopP: &topP, TopK: &k, Seed: &seed, MaxTokens: 300, Stop: []string{"###"}}, Output: sdk.OutputFormat{JSON: true, JSONSchema: schemaJSON}})[0]
			if r.Err != nil {
				t.Fatalf("%v (%v)", r.Err, srv.Stats().Rejections)
			}
			if !json.Valid([]byte(r.Text)) || !strings.HasPrefix(r.Text, "{") {
				t.Errorf("text %q", r.Text)
			}
			req := srv.Requests()[0]
			if req.Path != "/v1beta/models/gemini-test:generateContent" || req.Header.Get("x-goog-api-key") != conformance.Key || strings.Contains(req.Path, "key=") {
				t.Errorf("path %q headers %v", req.Path, req.Header)
			}
			var b struct {
				Contents []struct {
					Role string `json:"role"`
				} `json:"contents"`
				SystemInstruction struct {
					Parts []struct{ Text string } `json:"parts"`
				} `json:"systemInstruction"`
				GenerationConfig map[string]any `json:"generationConfig"`
			}
			_ = json.Unmarshal(req.Body, &b)
			if len(b.Contents) != 3 || b.Contents[1].Role != "model" {
				t.Errorf("contents %+v", b.Contents)
			}
			gc := b.GenerationConfig
			if gc["temperature"] != 1.0 || gc["topP"] != 0.95 || gc["topK"] != 64.0 || gc["maxOutputTokens"] != 300.0 || gc["seed"] != 5.0 {
				t.Errorf("sampling %v", gc)
			}
			sys := ""
			if len(b.SystemInstruction.Parts) > 0 {
				sys = b.SystemInstruction.Parts[0].Text
			}
			if !strings.HasPrefix(sys, "Du bist ein Experte.") {
				t.Errorf("systemInstruction %q", sys)
			}
			tc.check(t, gc, sys)
		})
	}
}
