package engine

import (
	"encoding/json"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/bind"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/zclconf/go-cty/cty"
)

// The response cache key must change with everything that determines an
// answer (the plugin build and the request included) and with nothing else
// (the call's id and metadata).
func TestCacheKey(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	k := func(v int) *int { return &v }
	s := func(v int64) *int64 { return &v }
	ident := func(name, version, sum string) string {
		var b []byte
		for _, f := range []string{name, version, sum} {
			b = appendKeyString(b, f)
		}
		return string(b)
	}
	build := ident("openai", "1.0.0", "aaaa")
	connOf := func(id, plugin, name, model string, cfg cty.Value) *teacherConn {
		return &teacherConn{ident: id, comp: &bind.Component{Plugin: plugin, Name: name, Redacted: cfg}, spec: &spec.Teacher{Model: model}}
	}
	conn := func(plugin, name, model string, cfg cty.Value) *teacherConn {
		return connOf(build, plugin, name, model, cfg)
	}
	cfg := cty.ObjectVal(map[string]cty.Value{"base_url": cty.StringVal("http://127.0.0.1:1")})
	base := func() *sdk.Call {
		return &sdk.Call{ID: "a", Messages: []sdk.Message{{Role: "system", Content: "sys"}, {Role: "user", Content: "hello"}},
			Sampling: sdk.Sampling{Temperature: f(0.7), TopP: f(0.95), MaxTokens: 64}, Metadata: map[string]string{"cell": "x"}}
	}
	const req = "translate-de-000003-1a2b3c4d/translate"
	ref := cacheKey(conn("openai", "chat", "m", cfg), base(), req)
	for _, tc := range []struct {
		name string
		conn *teacherConn
		edit func(*sdk.Call)
		same bool
		req  string // "": req
	}{
		{"another id and metadata", nil, func(c *sdk.Call) { c.ID = "b"; c.Metadata = nil }, true, ""},
		{"rebuilt plugin", connOf(ident("openai", "1.0.0", "bbbb"), "openai", "chat", "m", cfg), nil, false, ""},
		{"plugin version", connOf(ident("openai", "1.0.1", "aaaa"), "openai", "chat", "m", cfg), nil, false, ""},
		{"another plugin installed under the name", connOf(ident("other", "1.0.0", "aaaa"), "openai", "chat", "m", cfg), nil, false, ""},
		{"another request, same prompt", nil, nil, false, "translate-de-000004-1a2b3c4d/translate"},
		{"another step", nil, nil, false, "translate-de-000003-1a2b3c4d/check"},
		{"no request", nil, nil, false, "-"},
		{"plugin", conn("anthropic", "chat", "m", cfg), nil, false, ""},
		{"component", conn("openai", "chat2", "m", cfg), nil, false, ""},
		{"model", conn("openai", "chat", "m2", cfg), nil, false, ""},
		{"config", conn("openai", "chat", "m", cty.ObjectVal(map[string]cty.Value{"base_url": cty.StringVal("http://127.0.0.1:2")})), nil, false, ""},
		{"content", nil, func(c *sdk.Call) { c.Messages[1].Content = "hello!" }, false, ""},
		{"field boundary", nil, func(c *sdk.Call) { c.Messages[0].Content = "sysu"; c.Messages[1].Role = "ser" }, false, ""},
		{"extra message", nil, func(c *sdk.Call) { c.Messages = append(c.Messages, sdk.Message{Role: "user"}) }, false, ""},
		{"temperature", nil, func(c *sdk.Call) { c.Sampling.Temperature = f(0.8) }, false, ""},
		{"no temperature", nil, func(c *sdk.Call) { c.Sampling.Temperature = nil }, false, ""},
		{"top_p", nil, func(c *sdk.Call) { c.Sampling.TopP = f(0.9) }, false, ""},
		{"top_k", nil, func(c *sdk.Call) { c.Sampling.TopK = k(40) }, false, ""},
		{"max_tokens", nil, func(c *sdk.Call) { c.Sampling.MaxTokens = 65 }, false, ""},
		{"seed", nil, func(c *sdk.Call) { c.Sampling.Seed = s(1) }, false, ""},
		{"stop", nil, func(c *sdk.Call) { c.Sampling.Stop = []string{"\n"} }, false, ""},
		{"json", nil, func(c *sdk.Call) { c.Output.JSON = true }, false, ""},
		{"schema", nil, func(c *sdk.Call) { c.Output.JSONSchema = "{}" }, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, call := tc.conn, base()
			if c == nil {
				c = conn("openai", "chat", "m", cfg)
			}
			if tc.edit != nil {
				tc.edit(call)
			}
			r := req
			switch tc.req {
			case "":
			case "-":
				r = ""
			default:
				r = tc.req
			}
			got := cacheKey(c, call, r)
			if again := cacheKey(c, call, r); again != got {
				t.Fatalf("not deterministic: %s then %s", got, again)
			}
			if (got == ref) != tc.same {
				t.Errorf("key %s vs reference %s: want same=%v", got, ref, tc.same)
			}
		})
	}
}

// The kept params encoding must always equal encoding the call's sampling.
func TestParamsFollowTheSampling(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	c := &teacherConn{}
	temp := f(0.7)
	for i, s := range []sdk.Sampling{
		{Temperature: temp, MaxTokens: 64},
		{Temperature: temp, MaxTokens: 64},
		{Temperature: f(0.7), MaxTokens: 64},
		{Temperature: f(0.8), MaxTokens: 64},
		{Temperature: f(0.8), MaxTokens: 64, Stop: []string{"x"}},
		{Temperature: f(0.8), MaxTokens: 64, Stop: []string{"y"}},
		{},
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.params(s); string(got) != string(want) {
			t.Errorf("%d: params %s, want %s", i, got, want)
		}
	}
	// Changing the caller's value afterwards does not change what is kept.
	s := sdk.Sampling{Temperature: temp}
	first := string(c.params(s))
	*temp = 0.1
	if got := string(c.params(s)); got == first {
		t.Errorf("params %s kept after the temperature changed", got)
	}
}

// Each re-ask of a request is a different request: the first keeps its
// text (answers cached under it stay valid) and later ones differ from it
// and from each other, so neither the cache nor a deterministic server
// hands back the unusable answer again.
func TestReaskNudgesDiffer(t *testing.T) {
	if got := reaskNudge(1); got != "Your previous answer could not be used. Answer again, exactly in the requested format." {
		t.Errorf("first re-ask text changed: %q", got)
	}
	seen := map[string]int{}
	for ask := 1; ask <= 4; ask++ {
		n := reaskNudge(ask)
		if prev, ok := seen[n]; ok {
			t.Errorf("re-asks %d and %d send the same text %q", prev, ask, n)
		}
		seen[n] = ask
	}
}
