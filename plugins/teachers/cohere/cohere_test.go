package cohere

import (
	"encoding/json"
	"strings"
	"testing"

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
		Model:          "command-test",
		BareRetryAfter: 0, // Cohere sends no reset information
		OverloadStatus: 503,
	}
}

func TestConformance(t *testing.T) { conformance.Run(t, suite()) }

func TestWireFormat(t *testing.T) {
	srv := fakeprovider.Start(t, fakeprovider.Options{APIKey: conformance.Key, Record: true})
	c, o := suite().Open(t, srv, map[string]cty.Value{"safety_mode": cty.StringVal("CONTEXTUAL")})
	temp, topP, k, seed := 0.3, 0.75, 40, int64(9)
	schemaJSON := `{"type":"object","properties":{"prompt":{"type":"string"}},"required":["prompt"]}`
	r := sdktest.Generate(t, c, o, &sdk.Call{ID: "a", Messages: []sdk.Message{{Role: "system", Content: "Du bist ein Experte."}, {Role: "user", Content: "Erzeuge etwas."}},
		Sampling: sdk.Sampling{Temperature: &temp, TopP: &topP, TopK: &k, Seed: &seed, MaxTokens: 80, Stop: []string{"###"}}, Output: sdk.OutputFormat{JSON: true, JSONSchema: schemaJSON}})[0]
	if r.Err != nil {
		t.Fatalf("%v (%v)", r.Err, srv.Stats().Rejections)
	}
	req := srv.Requests()[0]
	if req.Header.Get("Authorization") != "Bearer "+conformance.Key {
		t.Errorf("Authorization %q", req.Header.Get("Authorization"))
	}
	var b map[string]any
	_ = json.Unmarshal(req.Body, &b)
	if b["p"] != 0.75 || b["k"] != 40.0 || b["temperature"] != 0.3 || b["max_tokens"] != 80.0 || b["seed"] != 9.0 || b["safety_mode"] != "CONTEXTUAL" || b["top_p"] != nil {
		t.Errorf("body %v", b)
	}
	rf, _ := b["response_format"].(map[string]any)
	if js, _ := rf["json_schema"].(map[string]any); rf["type"] != "json_object" || js["type"] != "object" {
		t.Errorf("response_format %v", rf)
	}
	// Billed units, not the template-inflated token counts.
	if r.Usage.InputTokens == 0 || !strings.HasPrefix(r.Text, "{") {
		t.Errorf("result %+v", r)
	}
	st := srv.Stats()
	_ = st
}
