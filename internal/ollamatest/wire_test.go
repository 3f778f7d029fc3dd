package ollamatest_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/internal/ollamatest"
)

var update = flag.Bool("update", false, "rewrite testdata/ from the live server's answers")

// exchange is one request to the server and its recorded answer.
type exchange struct {
	Method   string          `json:"method"`
	Path     string          `json:"path"`
	Request  json.RawMessage `json:"request,omitempty"`
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
}

// The exchanges that polyglot's components and the `server` block's
// readiness and capability probes depend on. Their answers are kept in
// testdata/ (Ollama's version in the folder name) for tests that need
// Ollama's wire format without Ollama; this test checks that the real
// server still answers in that shape.
var exchanges = map[string]exchange{
	"models": {Method: "GET", Path: "/v1/models"},
	"chat_logprobs": {Method: "POST", Path: "/v1/chat/completions", Request: raw(`{
		"model": "polyglot-tiny", "max_tokens": 4, "temperature": 0, "seed": 1,
		"messages": [{"role": "user", "content": "Hallo, wie geht es dir?"}],
		"logprobs": true, "top_logprobs": 2}`)},
	"embeddings": {Method: "POST", Path: "/v1/embeddings", Request: raw(`{
		"model": "polyglot-tiny", "input": ["Guten Morgen", "こんにちは"]}`)},
	// The perplexity metric's endpoint back end sends this (prompt as an
	// array even for one text, echo, logprobs 0, vLLM's prompt_logprobs).
	"completions_prompt_array": {Method: "POST", Path: "/v1/completions", Request: raw(`{
		"model": "polyglot-tiny", "prompt": ["Frage\n\nAntwort"], "max_tokens": 1,
		"temperature": 0, "echo": true, "logprobs": 0, "prompt_logprobs": 0}`)},
	// With one string Ollama answers, but ignores echo: the log-probabilities
	// are those of the generated token only, none of the prompt's.
	"completions_echo_string": {Method: "POST", Path: "/v1/completions", Request: raw(`{
		"model": "polyglot-tiny", "prompt": "Frage\n\nAntwort", "max_tokens": 1,
		"temperature": 0, "echo": true, "logprobs": 1}`)},
	"ollama_version": {Method: "GET", Path: "/api/version"},
}

func raw(s string) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestWireFormat(t *testing.T) {
	tools := ollamatest.Find(t)
	srv := ollamatest.Serve(t, tools, ollamatest.Models(t, tools))
	dir := filepath.Join("testdata", "v0.17.4")
	names := make([]string, 0, len(exchanges))
	for n := range exchanges {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			ex := exchanges[name]
			got := do(t, srv, ex)
			path := filepath.Join(dir, name+".json")
			if *update {
				b, _ := json.MarshalIndent(got, "", "  ")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (record it with go test ./internal/ollamatest -run TestWireFormat -update)", err)
			}
			var want exchange
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if got.Status != want.Status {
				t.Fatalf("HTTP %d, recorded %d: %s", got.Status, want.Status, got.Response)
			}
			if g, w := shape(t, got.Response), shape(t, want.Response); g != w {
				t.Errorf("the answer's shape changed\n got: %s\nwant: %s\nanswer: %s", g, w, got.Response)
			}
			check(t, name, got)
		})
	}
}

// check holds what polyglot relies on in each answer, beyond its shape.
func check(t *testing.T, name string, got exchange) {
	var v map[string]any
	if err := json.Unmarshal(got.Response, &v); err != nil {
		t.Fatalf("not a JSON object: %s", got.Response)
	}
	switch name {
	case "models":
		if !strings.Contains(string(got.Response), `"`+ollamatest.Model+`:latest"`) {
			t.Errorf("/v1/models does not list %s:latest", ollamatest.Model)
		}
	case "chat_logprobs":
		var r struct {
			Choices []struct {
				Message  struct{ Content string }
				Logprobs struct {
					Content []struct {
						Token       string
						Logprob     float64
						TopLogprobs []struct{ Logprob float64 } `json:"top_logprobs"`
					}
				}
			}
		}
		json.Unmarshal(got.Response, &r)
		if len(r.Choices) != 1 || len(r.Choices[0].Logprobs.Content) == 0 {
			t.Fatalf("no logprobs for the generated tokens: %s", got.Response)
		}
		for _, c := range r.Choices[0].Logprobs.Content {
			if c.Logprob > 0 || len(c.TopLogprobs) != 2 {
				t.Errorf("token %q: logprob %v with %d top_logprobs, want <= 0 with 2", c.Token, c.Logprob, len(c.TopLogprobs))
			}
		}
	case "embeddings":
		var r struct {
			Data []struct {
				Index     int
				Embedding []float64
			}
		}
		json.Unmarshal(got.Response, &r)
		if len(r.Data) != 2 || len(r.Data[0].Embedding) != 64 || slices.Equal(r.Data[0].Embedding, r.Data[1].Embedding) {
			t.Errorf("want two different 64-dimensional vectors: %s", got.Response)
		}
	case "completions_prompt_array":
		if got.Status != http.StatusBadRequest {
			t.Errorf("HTTP %d: Ollama now takes a prompt array; the perplexity back end may send one", got.Status)
		}
	case "completions_echo_string":
		var r struct {
			Choices []struct {
				Text     string
				Logprobs *struct{ Tokens []string } `json:"logprobs"`
			}
		}
		json.Unmarshal(got.Response, &r)
		if len(r.Choices) != 1 || strings.HasPrefix(r.Choices[0].Text, "Frage") {
			t.Errorf("Ollama now echoes the prompt: %s", got.Response)
		}
	}
}

func do(t *testing.T, srv *ollamatest.Server, ex exchange) exchange {
	t.Helper()
	var body io.Reader
	if ex.Request != nil {
		body = bytes.NewReader(ex.Request)
	}
	req, err := http.NewRequest(ex.Method, srv.URL+ex.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", ex.Method, ex.Path, err, srv.Tail(30))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	ex.Status = resp.StatusCode
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		t.Fatalf("%s %s: HTTP %d, not JSON: %q", ex.Method, ex.Path, resp.StatusCode, b)
	}
	ex.Response = buf.Bytes()
	return ex
}

// shape describes a JSON value by its keys and types, with arrays by the
// shape of their first element, so that gibberish text and random numbers
// compare equal while a renamed or missing field does not.
func shape(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var s func(v any) string
	s = func(v any) string {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = k + ":" + s(v[k])
			}
			return "{" + strings.Join(parts, ",") + "}"
		case []any:
			if len(v) == 0 {
				return "[]"
			}
			return "[" + s(v[0]) + "]"
		case nil:
			return "null"
		default:
			return fmt.Sprintf("%T", v)
		}
	}
	return s(v)
}
