package perplexity

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// fakeVLLM is a completions server that answers echo requests with prompt
// log-probabilities the way vLLM does. Its tokenizer starts a token at every
// whitespace run that follows a non-space ("Hi there\nGood" → "Hi", " there",
// "\nGood"), and a token of k characters has log-probability −(0.5 + 0.1k), so
// expected perplexities can be worked out by hand.
type fakeVLLM struct {
	shape string // "legacy", "prompt_logprobs", "prompt_logprobs_bos", "prompt_logprobs_topk", "generated_only"
	// stringOnly answers a list prompt with HTTP 400, as Ollama does.
	stringOnly bool

	// The first failN attempts fail with failStatus and failBody.
	failN      int
	failFrom   int // when > 0, attempts from this one on fail instead
	failStatus int
	failBody   string

	mu       sync.Mutex
	attempts int
	requests []map[string]any
}

func tokenize(s string) []string {
	var toks []string
	start, prevSpace := 0, true
	for i, r := range s {
		sp := unicode.IsSpace(r)
		if sp && !prevSpace && i > start {
			toks = append(toks, s[start:i])
			start = i
		}
		prevSpace = sp
	}
	if start < len(s) {
		toks = append(toks, s[start:])
	}
	return toks
}

func tokLogprob(tok string) float64 { return -(0.5 + 0.1*float64(utf8.RuneCountInString(tok))) }

func (f *fakeVLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/completions" || r.Method != http.MethodPost {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.attempts++
	n := f.attempts
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	if n <= f.failN || (f.failFrom > 0 && n >= f.failFrom) {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(f.failStatus)
		fmt.Fprint(w, f.failBody)
		return
	}
	if auth := r.Header.Get("Authorization"); auth != "Bearer sekret" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":{"message":"bad key %q"}}`, auth)
		return
	}
	var prompts []string
	switch p := req["prompt"].(type) {
	case string: // vLLM takes one prompt as a string, several as a list
		prompts = []string{p}
	case []any:
		for _, x := range p {
			prompts = append(prompts, x.(string))
		}
	}
	if f.stringOnly {
		if _, ok := req["prompt"].(string); !ok {
			// Ollama's /v1/completions decodes prompt into a Go string.
			http.Error(w, `{"error":{"message":"json: cannot unmarshal array into Go struct field CompletionRequest.prompt of type string","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
	}
	var choices []map[string]any
	// Choices go out in reverse order, with their index, as servers may
	// finish them out of order.
	for i := len(prompts) - 1; i >= 0; i-- {
		choices = append(choices, f.choice(i, prompts[i]))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": "cmpl-1", "object": "text_completion", "model": req["model"], "choices": choices})
}

func (f *fakeVLLM) choice(i int, prompt string) map[string]any {
	toks := tokenize(prompt)
	ch := map[string]any{"index": i, "text": prompt + "!", "finish_reason": "length"}
	switch f.shape {
	case "legacy":
		var offs []int
		var lps []any
		off := 0
		for k, t := range toks {
			offs = append(offs, off)
			off += utf8.RuneCountInString(t)
			if k == 0 {
				lps = append(lps, nil)
			} else {
				lps = append(lps, tokLogprob(t))
			}
		}
		// The generated token follows the echoed prompt; it must not count.
		ch["logprobs"] = map[string]any{
			"tokens":         append(toks, "!"),
			"token_logprobs": append(lps, -1.0),
			"text_offset":    append(offs, off),
			"top_logprobs":   nil,
		}
	case "generated_only":
		ch["logprobs"] = map[string]any{"tokens": []string{"!"}, "token_logprobs": []float64{-1}, "text_offset": []int{utf8.RuneCountInString(prompt)}}
	default:
		entries := []any{nil}
		ids := []int{1}
		if f.shape == "prompt_logprobs_bos" {
			// BOS is the null entry; the first real token has a logprob.
			toks = append([]string{""}, toks...)
		}
		for k, t := range toks[1:] {
			id := 1000 + k
			e := map[string]any{strconv.Itoa(id): map[string]any{"logprob": tokLogprob(t), "rank": 3, "decoded_token": t}}
			if f.shape == "prompt_logprobs_topk" {
				e["7"] = map[string]any{"logprob": -0.01, "rank": 1, "decoded_token": "zzzz"}
			}
			entries = append(entries, e)
			ids = append(ids, id)
		}
		ch["prompt_logprobs"] = entries
		if f.shape == "prompt_logprobs_topk" {
			ch["prompt_token_ids"] = ids
		}
		// vLLM still reports the generated token's logprobs separately.
		ch["logprobs"] = map[string]any{"tokens": []string{"!"}, "token_logprobs": []float64{-1}, "text_offset": []int{0}}
	}
	return ch
}

func endpointAttrs(url string, more map[string]cty.Value) map[string]cty.Value {
	a := map[string]cty.Value{
		"backend":  cty.StringVal(Endpoint),
		"base_url": cty.StringVal(url + "/v1/"),
		"model":    cty.StringVal("gemma-3-4b-pt"),
		"api_key":  cty.StringVal("sekret"),
	}
	for k, v := range more {
		a[k] = v
	}
	return a
}

// TestEndpointShapes checks hand-computed perplexities over both answer
// shapes of vLLM (and the OpenAI legacy one).
func TestEndpointShapes(t *testing.T) {
	cases := []struct {
		sep, prompt, response string
		want                  float64
	}{
		// "\nGood" (5 chars, −1.0) and " day" (4, −0.9).
		{"\n", "Hi there", "Good day", math.Exp(1.9 / 2)},
		// Offsets are in code points: "\nschön" (6, −1.1), " warm" (5, −1.0).
		{"\n", "Grüße", "schön warm", math.Exp(2.1 / 2)},
		// "\n答え" and " です" (3 each, −0.8).
		{"\n", "日本語の質問", "答え です", math.Exp(0.8)},
		{"\n", "a b c", "x", math.Exp(0.7)},
		// No separator: " hello" holds response characters, so it counts.
		{"", "Say hel", "lo world", math.Exp(1.1)},
	}
	for _, shape := range []string{"legacy", "prompt_logprobs", "prompt_logprobs_bos", "prompt_logprobs_topk"} {
		t.Run(shape, func(t *testing.T) {
			srv := &fakeVLLM{shape: shape}
			hs := httptest.NewServer(srv)
			defer hs.Close()
			for _, tc := range cases {
				acc := open(t, "de", endpointAttrs(hs.URL, map[string]cty.Value{"separator": cty.StringVal(tc.sep)}))
				vals, err := acc.Add(context.Background(), []sdk.Example{{ID: "x", Prompt: tc.prompt, Response: tc.response}, {ID: "y", Prompt: "other", Response: "text"}})
				if err != nil {
					t.Fatal(err)
				}
				if got := vals[0].Values["perplexity"]; !near(got, tc.want) {
					t.Errorf("%q + %q: perplexity %.12g, want %.12g", tc.prompt, tc.response, got, tc.want)
				}
			}
			// The first request is the capability probe: one text, sent
			// as a string.
			if p, ok := srv.requests[0]["prompt"].(string); !ok || !strings.Contains(p, "Answer:") {
				t.Errorf("probe prompt %v, want one string", srv.requests[0]["prompt"])
			}
			req := srv.requests[1]
			if req["echo"] != true || req["max_tokens"] != 1.0 || req["logprobs"] != 0.0 || req["prompt_logprobs"] != 0.0 || req["model"] != "gemma-3-4b-pt" {
				t.Errorf("request %v lacks echo, max_tokens 1, logprobs 0, prompt_logprobs 0 or the model", req)
			}
			if p := req["prompt"].([]any)[0]; p != "Hi there\nGood day" {
				t.Errorf("prompt sent %q, want prompt + separator + response", p)
			}
		})
	}
}

func TestEndpointBatching(t *testing.T) {
	srv := &fakeVLLM{shape: "legacy"}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	acc := open(t, "de", endpointAttrs(hs.URL, map[string]cty.Value{"batch": cty.NumberIntVal(2), "prompt_logprobs": cty.False}))
	var exs []sdk.Example
	for i := range 5 {
		exs = append(exs, sdk.Example{ID: strconv.Itoa(i), Prompt: "q", Response: strings.TrimSpace(strings.Repeat("ab ", i+1))})
	}
	vals, err := acc.Add(context.Background(), exs)
	if err != nil {
		t.Fatal(err)
	}
	if srv.attempts != 4 {
		t.Errorf("%d requests for the probe and 5 examples in batches of 2; want 4", srv.attempts)
	}
	for _, r := range srv.requests {
		if _, ok := r["prompt_logprobs"]; ok {
			t.Errorf("prompt_logprobs sent although disabled: %v", r)
		}
	}
	for i, v := range vals {
		// Response "ab ab … ab" with i+1 words: "\nab" (3) then i × " ab" (3).
		if v.ID != exs[i].ID || !near(v.Values["perplexity"], math.Exp(0.8)) || v.Values["tokens"] != float64(i+1) {
			t.Errorf("example %d: %v", i, v)
		}
	}
}

func TestEndpointErrors(t *testing.T) {
	for _, tc := range []struct {
		name         string
		srv          *fakeVLLM
		retries      int64
		wantAttempts int
		wantErr      string // "" means success
	}{
		{"429 then success", &fakeVLLM{shape: "prompt_logprobs", failN: 2, failStatus: 429, failBody: `{"error":{"message":"slow down"}}`}, 5, 3, ""},
		// The probe's one attempt, then three.
		{"503 persists", &fakeVLLM{shape: "legacy", failN: 100, failStatus: 503, failBody: `{"error":{"message":"overloaded"}}`}, 2, 4, "HTTP 503: overloaded"},
		// A 400 after the probe passed is not retried (the probe is attempt 1).
		{"400 is not retried", &fakeVLLM{shape: "legacy", failFrom: 2, failStatus: 400, failBody: `{"error":{"message":"prompt too long","type":"invalid_request_error"}}`}, 5, 2, "HTTP 400: prompt too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.srv
			hs := httptest.NewServer(srv)
			defer hs.Close()
			acc := open(t, "de", endpointAttrs(hs.URL, map[string]cty.Value{"max_retries": cty.NumberIntVal(tc.retries)}))
			vals, err := acc.Add(context.Background(), []sdk.Example{{ID: "e1", Prompt: "Hi there", Response: "Good day"}})
			if srv.attempts != tc.wantAttempts {
				t.Errorf("%d attempts, want %d", srv.attempts, tc.wantAttempts)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !near(vals[0].Values["perplexity"], math.Exp(0.95)) {
					t.Errorf("value %v", vals[0])
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), "e1") {
				t.Errorf("error %v does not say which examples failed", err)
			}
		})
	}
}

func TestEndpointBadKey(t *testing.T) {
	hs := httptest.NewServer(&fakeVLLM{shape: "legacy"})
	defer hs.Close()
	acc := open(t, "de", endpointAttrs(hs.URL, map[string]cty.Value{"api_key": cty.StringVal("wrong")}))
	_, err := acc.Add(context.Background(), []sdk.Example{{ID: "1", Prompt: "a", Response: "b"}})
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("error %v, want HTTP 401", err)
	}
}

// TestEndpointRefusedWhenItCannotScorePrompts: a server that returns no
// prompt log-probabilities (Ollama, llama-server) is found out when the
// metric opens, by one probe, with a message naming the engines that can;
// no example is sent. A fixed URL is probed at validation too.
func TestEndpointRefusedWhenItCannotScorePrompts(t *testing.T) {
	for name, srv := range map[string]*fakeVLLM{
		"generated tokens only": {shape: "generated_only"},
		"echo rejected":         {shape: "legacy", failN: 100, failStatus: 400, failBody: `{"error":{"message":"Only no echo is supported","type":"invalid_request_error"}}`},
		"ollama":                {shape: "generated_only", stringOnly: true},
	} {
		t.Run(name, func(t *testing.T) {
			hs := httptest.NewServer(srv)
			defer hs.Close()
			cfg := config(t, endpointAttrs(hs.URL, nil))
			for what, ds := range map[string]sdk.Diagnostics{
				"validate": Metric{}.ValidateConfig(context.Background(), cfg),
				"open": func() sdk.Diagnostics {
					_, ds := Metric{}.Open(context.Background(), sdk.MetricRequest{Config: cfg, Language: "de", Cell: "t/de"})
					return ds
				}(),
			} {
				if !ds.HasErrors() {
					t.Fatalf("%s accepted a server without prompt log-probabilities", what)
				}
				msg := ds.Err().Error()
				for _, want := range []string{"vLLM", "prompt_logprobs", "Ollama", hs.URL} {
					if !strings.Contains(msg, want) {
						t.Errorf("%s: error lacks %q: %s", what, want, msg)
					}
				}
			}
			if srv.attempts != 1 {
				t.Errorf("%d requests; want the one probe (its answer is remembered)", srv.attempts)
			}
			if _, ok := srv.requests[0]["prompt"].(string); !ok {
				t.Errorf("the probe sent prompt %v; one text goes as a string", srv.requests[0]["prompt"])
			}
		})
	}
}

// TestEndpointManagedURLNotProbedAtValidation: the placeholder of a server
// block is not a server yet.
func TestEndpointManagedURLNotProbedAtValidation(t *testing.T) {
	cfg := config(t, endpointAttrs("http://ppl.server.polyglot.invalid", nil))
	if ds := (Metric{}).ValidateConfig(context.Background(), cfg); ds.HasErrors() || len(ds) > 0 {
		t.Errorf("validation of a server block's URL: %v", ds)
	}
}
