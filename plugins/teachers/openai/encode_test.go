package openai

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/polyglot-teachers/polyglot/sdk"
)

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	temp, topP, k, seed := 0.7, 1.0, 40, int64(-3)
	tiny := 1e-7
	cases := []*chatRequest{
		{Model: "m", Messages: []sdk.Message{{Role: "user", Content: "hi"}}},
		{Model: "m\"x", Messages: []sdk.Message{{Role: "system", Content: "Zeile 1\nZeile 2\t\"zitiert\" \\ <b>&</b> \x01\x1f"}, {Role: "user", Content: "日本語 العربية ok \u2028 \u2029 bad:\xff\xfe end"}},
			Temperature: &temp, TopP: &topP, TopK: &k, MaxTokens: 12, Seed: &seed, Stop: []string{"###", "\n\n"}},
		{Model: "m", Messages: []sdk.Message{{Role: "user", Content: ""}}, Temperature: &tiny, MaxCompletionTokens: 5,
			ResponseFormat: &responseFormat{Type: "json_schema", JSONSchema: &jsonSchema{Name: "output", Schema: json.RawMessage(`{"type":"object"}`), Strict: true}}},
	}
	for i, r := range cases {
		got, err := r.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(r)
		if string(got) != want.String() {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want.String())
		}
	}
	nan := math.NaN()
	if _, err := (&chatRequest{Model: "m", Temperature: &nan}).AppendJSON(nil); err == nil {
		t.Error("NaN temperature encoded")
	}
}
