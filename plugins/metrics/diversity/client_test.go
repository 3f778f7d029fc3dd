package diversity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeEmbeddings is an OpenAI-compatible /v1/embeddings server. It embeds a
// text as [len(text), first byte, 1], answers in reverse index order (so the
// client must sort by index), and can be told to fail the first calls.
type fakeEmbeddings struct {
	t        *testing.T
	mu       sync.Mutex
	requests [][]string
	headers  []http.Header
	// fail, if set, decides the answer of call k (0-based): status and body;
	// status 0 means answer normally.
	fail func(k int, w http.ResponseWriter) int
}

func (f *fakeEmbeddings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, 404)
		return
	}
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":{"message":"bad request body: %v","type":"invalid_request_error","code":null}}`, err)
		return
	}
	f.mu.Lock()
	k := len(f.requests)
	f.requests = append(f.requests, req.Input)
	f.headers = append(f.headers, r.Header.Clone())
	f.mu.Unlock()
	if f.fail != nil {
		if status := f.fail(k, w); status != 0 {
			return
		}
	}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	var data []item
	for i := len(req.Input) - 1; i >= 0; i-- {
		s := req.Input[i]
		first := float32(0)
		if s != "" {
			first = float32(s[0])
		}
		data = append(data, item{"embedding", i, []float32{float32(len(s)), first, 1}})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": len(req.Input), "total_tokens": len(req.Input)},
	})
}

func (f *fakeEmbeddings) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func newFake(t *testing.T, fail func(int, http.ResponseWriter) int) (*fakeEmbeddings, string) {
	f := &fakeEmbeddings{t: t, fail: fail}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL + "/v1"
}

func TestClientBatchingOrderAndCache(t *testing.T) {
	f, base := newFake(t, nil)
	c, err := NewClient(ClientOptions{BaseURL: base, Model: "emb-1", APIKey: "sk-test", BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"a", "bb", "ccc", "a", "dddd", "eeeee", "ffffff", "bb", "g"}
	vecs, err := c.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range texts {
		if vecs[i][0] != float32(len(s)) || vecs[i][1] != float32(s[0]) {
			t.Errorf("text %d %q got %v", i, s, vecs[i])
		}
	}
	// 7 distinct texts in batches of 3: 3 requests of 3, 3, 1 inputs.
	if got := f.calls(); got != 3 {
		t.Fatalf("%d requests, want 3", got)
	}
	if len(f.requests[0]) != 3 || len(f.requests[2]) != 1 {
		t.Errorf("batch sizes %d..%d", len(f.requests[0]), len(f.requests[2]))
	}
	if h := f.headers[0].Get("Authorization"); h != "Bearer sk-test" {
		t.Errorf("Authorization = %q", h)
	}
	// All cached now: no new request.
	if _, err := c.Embed(context.Background(), []string{"g", "a", "eeeee"}); err != nil {
		t.Fatal(err)
	}
	if got := f.calls(); got != 3 {
		t.Errorf("cached texts caused requests: %d", got)
	}
	// A different model must not share cache entries.
	c2, _ := NewClient(ClientOptions{BaseURL: base, Model: "emb-2", Cache: c.cache})
	if _, err := c2.Embed(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if got := f.calls(); got != 4 {
		t.Errorf("model change did not miss the cache: %d requests", got)
	}
}

func TestClientCustomKeyHeader(t *testing.T) {
	f, base := newFake(t, nil)
	c, _ := NewClient(ClientOptions{BaseURL: base + "/", Model: "m", APIKey: "k1", APIKeyHeader: "api-key"})
	if _, err := c.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if f.headers[0].Get("api-key") != "k1" || f.headers[0].Get("Authorization") != "" {
		t.Errorf("headers %v", f.headers[0])
	}
}

func TestClientRetries(t *testing.T) {
	tests := []struct {
		name      string
		fail      func(k int, w http.ResponseWriter) int
		wantCalls int
		wantErr   string // empty: success
	}{
		{
			name: "429 with Retry-After seconds, then 503 with Retry-After-Ms, then ok",
			fail: func(k int, w http.ResponseWriter) int {
				switch k {
				case 0:
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(429)
					io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
					return 429
				case 1:
					w.Header().Set("Retry-After-Ms", "20")
					w.WriteHeader(503)
					io.WriteString(w, `upstream overloaded`)
					return 503
				}
				return 0
			},
			wantCalls: 3,
		},
		{
			name: "400 is not retried and its message is reported",
			fail: func(k int, w http.ResponseWriter) int {
				w.WriteHeader(400)
				io.WriteString(w, `{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}`)
				return 400
			},
			wantCalls: 1,
			wantErr:   "HTTP 400 (invalid_request_error context_length_exceeded): This model's maximum context length is 8192 tokens",
		},
		{
			name: "persistent 500 gives up after MaxAttempts",
			fail: func(k int, w http.ResponseWriter) int {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(500)
				io.WriteString(w, `{"error":"internal"}`)
				return 500
			},
			wantCalls: 3,
			wantErr:   "HTTP 500: internal",
		},
		{
			name: "index out of range is a permanent error",
			fail: func(k int, w http.ResponseWriter) int {
				io.WriteString(w, `{"data":[{"index":5,"embedding":[1,2]}],"usage":{}}`)
				return 200
			},
			wantCalls: 1,
			wantErr:   "index 5 outside 0..0",
		},
		{
			name: "wrong item count",
			fail: func(k int, w http.ResponseWriter) int {
				io.WriteString(w, `{"data":[],"usage":{}}`)
				return 200
			},
			wantCalls: 1,
			wantErr:   "0 items for 1 inputs",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, base := newFake(t, tt.fail)
			// A long initial backoff proves Retry-After is honoured: the
			// test would take 10 s per retry otherwise.
			c, _ := NewClient(ClientOptions{BaseURL: base, Model: "m", MaxAttempts: 3, InitialBackoff: 10 * time.Second})
			start := time.Now()
			vecs, err := c.Embed(context.Background(), []string{"hello"})
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %v: Retry-After not honoured", took)
			}
			if f.calls() != tt.wantCalls {
				t.Errorf("%d calls, want %d", f.calls(), tt.wantCalls)
			}
			if tt.wantErr == "" {
				if err != nil || len(vecs) != 1 || vecs[0][0] != 5 {
					t.Fatalf("got %v, %v", vecs, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestClientCancelDuringBackoff(t *testing.T) {
	_, base := newFake(t, func(k int, w http.ResponseWriter) int {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(429)
		return 429
	})
	c, _ := NewClient(ClientOptions{BaseURL: base, Model: "m"})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Embed(ctx, []string{"x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("cancellation took %v", time.Since(start))
	}
}

func TestClientTransportErrorRetried(t *testing.T) {
	// A server that is closed: connection refused on every try.
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL + "/v1"
	srv.Close()
	c, _ := NewClient(ClientOptions{BaseURL: base, Model: "m", MaxAttempts: 2, InitialBackoff: time.Millisecond})
	if _, err := c.Embed(context.Background(), []string{"x"}); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("err = %v", err)
	}
}

func TestDiskCacheAcrossClients(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	f, base := newFake(t, nil)
	for round := range 2 {
		dc, err := NewDiskCache(dir)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := NewClient(ClientOptions{BaseURL: base, Model: "m", Cache: dc})
		vecs, err := c.Embed(context.Background(), []string{"alpha", "beta"})
		if err != nil {
			t.Fatal(err)
		}
		if vecs[0][0] != 5 || vecs[1][0] != 4 {
			t.Errorf("round %d: %v", round, vecs)
		}
	}
	if f.calls() != 1 {
		t.Errorf("%d requests; the second client should have read the disk cache", f.calls())
	}
	// A corrupt file counts as a miss, not as an error.
	c, _ := NewClient(ClientOptions{BaseURL: base, Model: "m"})
	key := c.CacheKey("alpha")
	if err := os.WriteFile(filepath.Join(dir, key[:2], key+".f32"), []byte{1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	dc, _ := NewDiskCache(dir)
	if _, ok := dc.Get(key); ok {
		t.Error("corrupt cache file was returned")
	}
	if err := dc.Put("../evil", []float32{1}); err == nil {
		t.Error("path-like key accepted")
	}
}

func TestClientOptionErrors(t *testing.T) {
	for _, o := range []ClientOptions{{}, {BaseURL: "127.0.0.1:1/v1", Model: "m"}, {BaseURL: "http://x/v1"}, {BaseURL: "http://x/v1", Model: "m", BatchSize: -1}} {
		if _, err := NewClient(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// The client plugs into the Accumulator like the hash embedder.
func TestAccumulatorWithClient(t *testing.T) {
	var n atomic.Int32
	_, base := newFake(t, func(k int, w http.ResponseWriter) int { n.Add(1); return 0 })
	c, _ := NewClient(ClientOptions{BaseURL: base, Model: "m", BatchSize: 2})
	a, _ := NewAccumulator(Options{Embedder: c})
	ex := []Example{{ID: "1", Prompt: "aa", Response: "x"}, {ID: "2", Prompt: "aa", Response: "yyyy"}, {ID: "3", Prompt: "bbbbbb", Response: "x"}}
	if err := a.Add(context.Background(), ex); err != nil {
		t.Fatal(err)
	}
	r, err := a.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if r.Embedder != "m" || r.Dim != 3 || r.Prompt.N != 3 {
		t.Errorf("%+v", r)
	}
	if r.Prompt.PerExample[0] != r.Prompt.PerExample[1] {
		t.Error("identical prompts must get identical per-example values")
	}
	if n.Load() != 2 { // prompts: 2 distinct in one request; responses: 2 distinct in one
		t.Errorf("%d requests", n.Load())
	}
}
