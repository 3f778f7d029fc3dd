package anthropic

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
		Model:          "claude-test",
		BareRetryAfter: 6 * time.Minute,
		OverloadStatus: 529,
		ContentFilter:  true,
		Batch:          true,
	}
}

func TestConformance(t *testing.T) { conformance.Run(t, suite()) }

func TestWireFormat(t *testing.T) {
	srv := fakeprovider.Start(t, fakeprovider.Options{APIKey: conformance.Key, Record: true})
	c, o := suite().Open(t, srv, map[string]cty.Value{"omit_top_p": cty.True, "default_max_tokens": cty.NumberIntVal(333)})
	temp, topP, k, seed := 0.5, 0.9, 40, int64(3)
	r := sdktest.Generate(t, c, o, &sdk.Call{ID: "a", Messages: []sdk.Message{
		{Role: "system", Content: "Du bist ein Experte."}, {Role: "user", Content: "Hallo"}, {Role: "assistant", Content: "Hallo!"}, {Role: "user", Content: "Erzeuge etwas."},
	}, Sampling: sdk.Sampling{Temperature: &temp, TopP: &topP, TopK: &k, Seed: &seed, Stop: []string{"###"}}, Output: sdk.OutputFormat{JSON: true}})[0]
	if r.Err != nil {
		t.Fatalf("%v (%v)", r.Err, srv.Stats().Rejections)
	}
	req := srv.Requests()[0]
	if req.Header.Get("x-api-key") != conformance.Key || req.Header.Get("anthropic-version") != "2023-06-01" || req.Header.Get("Authorization") != "" {
		t.Errorf("headers %v", req.Header)
	}
	var b map[string]any
	_ = json.Unmarshal(req.Body, &b)
	if b["max_tokens"] != 333.0 || b["top_p"] != nil || b["top_k"] != 40.0 || b["temperature"] != 0.5 || b["seed"] != nil {
		t.Errorf("body %v", b)
	}
	if sys, _ := b["system"].(string); !strings.HasPrefix(sys, "Du bist ein Experte.") || !strings.Contains(sys, "JSON") {
		t.Errorf("system %q", b["system"])
	}
	if msgs, _ := b["messages"].([]any); len(msgs) != 3 {
		t.Errorf("messages %v: the system message must not be among them", b["messages"])
	}
	// The fake wraps the object in prose and a fence; the teacher must
	// return the bare object.
	if !strings.HasPrefix(r.Text, "{") || !json.Valid([]byte(r.Text)) {
		t.Errorf("text %q", r.Text)
	}
}

func TestCustomID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		json bool
		ok   bool
	}{
		{"simple_id-1", false, true},
		{"cell/de:gen#7", true, true},
		{strings.Repeat("x", 63), false, true},
		{strings.Repeat("/", 47), true, true},
		{strings.Repeat("/", 48), true, false},
	} {
		cid, err := customID(&sdk.Call{ID: tc.id, Output: sdk.OutputFormat{JSON: tc.json}})
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.id, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		if len(cid) > 64 || !plainID.MatchString(cid[1:]) {
			t.Errorf("%q -> %q is not a valid custom_id", tc.id, cid)
		}
		id, j, ok := parseCustomID(cid)
		if !ok || id != tc.id || j != tc.json {
			t.Errorf("%q -> %q -> (%q, %v, %v)", tc.id, cid, id, j, ok)
		}
	}
}
