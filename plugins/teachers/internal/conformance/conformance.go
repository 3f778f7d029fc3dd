// Package conformance is the test suite every HTTP teacher plugin must
// pass against fakeprovider: success paths (text, JSON, length), every
// failure kind mapped to the right sdk.ErrorCode with RetryAfter parsed,
// the API key never echoed, timeouts, cancellation, exactly one HTTP
// attempt per call, and batch mode where the provider has one. It runs the
// plugin through sdktest, i.e. over real in-process gRPC, as the host does.
package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

// Key is the API key the suite configures; it must never come back.
const Key = "sk-test-SECRET-4c1d2e9f0a7b"

// Suite describes one plugin.
type Suite struct {
	Teacher sdk.Teacher
	// BaseURL turns the fake's root into the plugin's base_url.
	BaseURL func(root string) string
	Model   string
	// BareRetryAfter is the RetryAfter expected for FaultRateLimitBare with
	// the fake's default 6m reset (0 when the provider sends nothing).
	BareRetryAfter time.Duration
	// OverloadStatus is the status the fake uses for FaultOverloaded.
	OverloadStatus int
	ContentFilter  bool
	Batch          bool
}

func (s Suite) name() string { return s.Teacher.Describe().Name }

// Open returns the sdktest client and the TeacherOpen for a fake server.
func (s Suite) Open(t testing.TB, srv *fakeprovider.Server, attrs map[string]cty.Value) (*sdk.Client, sdk.TeacherOpen) {
	t.Helper()
	a := map[string]cty.Value{"base_url": cty.StringVal(s.BaseURL(srv.URL)), "api_key": cty.StringVal(Key)}
	for k, v := range attrs {
		a[k] = v
	}
	cfg := sdktest.Config(t, s.Teacher.Describe().Schema, a)
	c := sdktest.Start(t, sdk.ServeOpts{Name: "test", Version: "0", Teachers: []sdk.Teacher{s.Teacher}})
	return c, sdk.TeacherOpen{Component: s.name(), Model: s.Model, Config: cfg, Concurrency: 16}
}

func user(text string) []sdk.Message {
	return []sdk.Message{{Role: "system", Content: "You are a fluent, culturally aware expert in German."}, {Role: "user", Content: text}}
}

// noKey fails when the key appears anywhere in a result.
func noKey(t testing.TB, r *sdk.Result) {
	t.Helper()
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), Key) {
		t.Errorf("result %s contains the API key: %s", r.ID, b)
	}
}

// Run runs the whole suite.
func Run(t *testing.T, s Suite) {
	t.Run("success", func(t *testing.T) { testSuccess(t, s) })
	t.Run("faults", func(t *testing.T) { testFaults(t, s) })
	t.Run("rates", func(t *testing.T) { testRates(t, s) })
	t.Run("timeout_and_cancel", func(t *testing.T) { testTimeoutCancel(t, s) })
	t.Run("config", func(t *testing.T) { testConfig(t, s) })
	if s.Batch {
		t.Run("batch", func(t *testing.T) { testBatch(t, s) })
	}
}

const pgSchema = `{"type":"object","properties":{"prompt":{"type":"string"},"response":{"type":"string"}},"required":["prompt","response"],"additionalProperties":false}`

func testSuccess(t *testing.T, s Suite) {
	srv := fakeprovider.Start(t, fakeprovider.Options{Seed: 7, APIKey: Key})
	c, o := s.Open(t, srv, nil)
	t1 := 0.7
	calls := []*sdk.Call{
		{ID: "text", Messages: user("Schreibe einen kurzen Satz. [[words:9]]"), Sampling: sdk.Sampling{Temperature: &t1, MaxTokens: 100}},
		{ID: "json", Messages: user("Erzeuge eine neue Aufgabe."), Sampling: sdk.Sampling{MaxTokens: 200}, Output: sdk.OutputFormat{JSON: true, JSONSchema: pgSchema}},
		{ID: "json-noschema", Messages: user("Erzeuge eine neue Aufgabe."), Sampling: sdk.Sampling{MaxTokens: 200}, Output: sdk.OutputFormat{JSON: true}},
		{ID: "length", Messages: user("Erzähle lange. [[words:40]]"), Sampling: sdk.Sampling{MaxTokens: 5}},
		{ID: "json-cut", Messages: user("Erzeuge eine neue Aufgabe. [[words:40]]"), Sampling: sdk.Sampling{MaxTokens: 4}, Output: sdk.OutputFormat{JSON: true, JSONSchema: pgSchema}},
	}
	rs := sdktest.Generate(t, c, o, calls...)
	st := srv.Stats()
	if st.Rejected != 0 {
		t.Fatalf("the fake rejected %d requests: %v", st.Rejected, st.Rejections)
	}
	if st.Requests != int64(len(calls)) {
		t.Errorf("requests = %d, want one per call (%d)", st.Requests, len(calls))
	}
	byID := map[string]*sdk.Result{}
	for _, r := range rs {
		byID[r.ID] = r
		noKey(t, r)
	}
	tx := byID["text"]
	if tx.Err != nil {
		t.Fatalf("text call failed: %v", tx.Err)
	}
	if got := len(strings.Fields(tx.Text)); got != 9 || tx.FinishReason != "stop" || tx.Usage.OutputTokens != 9 || tx.Usage.InputTokens == 0 || tx.Model == "" || tx.Latency <= 0 {
		t.Errorf("text result = %+v; want 9 words, finish stop, 9 output tokens, input tokens, model, latency", tx)
	}
	for _, id := range []string{"json", "json-noschema"} {
		r := byID[id]
		if r.Err != nil {
			t.Fatalf("%s call failed: %v", id, r.Err)
		}
		var obj map[string]string
		if err := json.Unmarshal([]byte(r.Text), &obj); err != nil || obj["prompt"] == "" || obj["response"] == "" {
			t.Errorf("%s: Text %q is not the {prompt, response} object (%v)", id, r.Text, err)
		}
	}
	ln := byID["length"]
	if ln.Err != nil || ln.FinishReason != "length" || ln.Usage.OutputTokens != 5 || len(strings.Fields(ln.Text)) != 5 {
		t.Errorf("length result = %+v (err %v); want finish length, 5 tokens", ln, ln.Err)
	}
	// A JSON answer cut at max_tokens is a result, not an error: the host's
	// strategy records it as "truncated" with its text (and re-asks if so
	// configured) instead of retrying it blindly.
	cut := byID["json-cut"]
	if cut.Err != nil || cut.FinishReason != "length" || cut.Text == "" || cut.Usage.OutputTokens != 4 {
		t.Errorf("cut JSON result = %+v err %v; want a result with finish length, its text and usage", cut, cut.Err)
	}
}

type faultCase struct {
	fault      fakeprovider.Fault
	code       sdk.ErrorCode
	status     int
	retryAfter time.Duration // expected, ±1.5s; -1: must be 0
}

func testFaults(t *testing.T, s Suite) {
	srv := fakeprovider.Start(t, fakeprovider.Options{Seed: 1, APIKey: Key, RetryAfter: 3 * time.Second})
	c, o := s.Open(t, srv, nil)
	cases := []faultCase{
		{fakeprovider.FaultRateLimit, sdk.ErrRateLimited, 429, 3 * time.Second},
		{fakeprovider.FaultRateLimitDate, sdk.ErrRateLimited, 429, 3 * time.Second},
		{fakeprovider.FaultRateLimitBare, sdk.ErrRateLimited, 429, s.BareRetryAfter},
		{fakeprovider.FaultServer, sdk.ErrServer, 500, -1},
		{fakeprovider.FaultOverloaded, sdk.ErrServer, s.OverloadStatus, -1},
		{fakeprovider.FaultHang, sdk.ErrTimeout, 0, -1},
		{fakeprovider.FaultMalformed, sdk.ErrMalformedResponse, 0, -1},
		{fakeprovider.FaultTruncated, sdk.ErrMalformedResponse, 200, -1},
		{fakeprovider.FaultAuth, sdk.ErrAuth, 401, -1},
		{fakeprovider.FaultBadRequest, sdk.ErrInvalidRequest, 400, -1},
		{fakeprovider.FaultNotFound, sdk.ErrNotFound, 404, -1},
	}
	if s.ContentFilter {
		cases = append(cases, faultCase{fakeprovider.FaultContentFilter, sdk.ErrContentFiltered, 0, -1})
	}
	var calls []*sdk.Call
	for _, fc := range cases {
		// The host's per-attempt limit travels with the call (the hanging
		// one must end after it, not after a default of the plugin's).
		calls = append(calls, &sdk.Call{ID: string(fc.fault), Messages: user("Hallo [[fault:" + string(fc.fault) + "]]"), Sampling: sdk.Sampling{MaxTokens: 50}, Timeout: 400 * time.Millisecond})
	}
	// A wrong key is an auth failure too, and its echo must be scrubbed.
	start := time.Now()
	rs := sdktest.Generate(t, c, o, calls...)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("the fault calls took %s; the hanging one should have timed out after 400ms", el)
	}
	for i, fc := range cases {
		r := rs[i]
		noKey(t, r)
		if r.Err == nil {
			t.Errorf("%s: no error, result %+v", fc.fault, r)
			continue
		}
		if r.Err.Code != fc.code {
			t.Errorf("%s: code %s (%s), want %s", fc.fault, r.Err.Code, r.Err.Message, fc.code)
		}
		if fc.status != 0 && r.Err.HTTPStatus != fc.status {
			t.Errorf("%s: HTTP status %d, want %d", fc.fault, r.Err.HTTPStatus, fc.status)
		}
		switch {
		case fc.retryAfter < 0 && r.Err.RetryAfter != 0:
			t.Errorf("%s: RetryAfter %s, want 0", fc.fault, r.Err.RetryAfter)
		case fc.retryAfter >= 0 && (r.Err.RetryAfter < fc.retryAfter-1500*time.Millisecond || r.Err.RetryAfter > fc.retryAfter+1500*time.Millisecond):
			t.Errorf("%s: RetryAfter %s, want about %s", fc.fault, r.Err.RetryAfter, fc.retryAfter)
		}
		if fc.fault == fakeprovider.FaultMalformed || fc.fault == fakeprovider.FaultTruncated {
			if r.Err.Raw == "" || len(r.Err.Raw) > 4200 {
				t.Errorf("%s: Raw should hold the (truncated) body, got %d bytes", fc.fault, len(r.Err.Raw))
			}
		}
		if r.Err.Message == "" {
			t.Errorf("%s: empty message", fc.fault)
		}
		if fc.code.TeacherLevel() && !strings.Contains(r.Err.Message, s.BaseURL(srv.URL)) {
			t.Errorf("%s: the message %q does not say which endpoint failed (%s)", fc.fault, r.Err.Message, s.BaseURL(srv.URL))
		}
	}
	if got := srv.Stats().Requests; got != int64(len(cases)) {
		t.Errorf("the fake saw %d requests for %d calls; Generate must make exactly one attempt", got, len(cases))
	}

	// A wrong key configured by the user: the fake quotes it back.
	c2, o2 := s.Open(t, srv, map[string]cty.Value{"api_key": cty.StringVal(Key + "-wrong")})
	r := sdktest.Generate(t, c2, o2, &sdk.Call{ID: "k", Messages: user("Hallo")})[0]
	noKey(t, r)
	if r.Err == nil || r.Err.Code != sdk.ErrAuth || strings.Contains(r.Err.Message+r.Err.Raw, "-wrong") {
		t.Errorf("wrong key: %+v; want auth error with the key scrubbed", r.Err)
	}
}

func testRates(t *testing.T, s Suite) {
	rates := map[fakeprovider.Fault]float64{fakeprovider.FaultRateLimit: 0.15, fakeprovider.FaultServer: 0.1, fakeprovider.FaultMalformed: 0.05, fakeprovider.FaultTruncated: 0.05, fakeprovider.FaultOverloaded: 0.05}
	srv := fakeprovider.Start(t, fakeprovider.Options{Seed: 42, APIKey: Key, Rates: rates})
	c, o := s.Open(t, srv, nil)
	const n = 200
	calls := make([]*sdk.Call, n)
	for i := range calls {
		calls[i] = &sdk.Call{ID: fmt.Sprint(i), Messages: user(fmt.Sprintf("Frage %d", i)), Sampling: sdk.Sampling{MaxTokens: 64}}
	}
	rs := sdktest.Generate(t, c, o, calls...)
	got := map[sdk.ErrorCode]int64{}
	ok := int64(0)
	for _, r := range rs {
		noKey(t, r)
		if r.Err == nil {
			ok++
			continue
		}
		got[r.Err.Code]++
	}
	st := srv.Stats()
	if st.Requests != n || st.Rejected != 0 {
		t.Fatalf("requests %d (want %d), rejected %d: %v", st.Requests, n, st.Rejected, st.Rejections)
	}
	f := st.Faults
	want := map[sdk.ErrorCode]int64{
		sdk.ErrRateLimited:       f[fakeprovider.FaultRateLimit],
		sdk.ErrServer:            f[fakeprovider.FaultServer] + f[fakeprovider.FaultOverloaded],
		sdk.ErrMalformedResponse: f[fakeprovider.FaultMalformed] + f[fakeprovider.FaultTruncated],
	}
	for code, w := range want {
		if got[code] != w {
			t.Errorf("%s: %d results, the fake injected %d", code, got[code], w)
		}
	}
	var injected int64
	for _, v := range f {
		injected += v
	}
	if ok != n-injected || injected == 0 {
		t.Errorf("successes %d, want %d (injected %d)", ok, n-injected, injected)
	}
}

func testTimeoutCancel(t *testing.T, s Suite) {
	srv := fakeprovider.Start(t, fakeprovider.Options{APIKey: Key})
	// Directly through the Generator: cancellation and the caller's
	// deadline are contexts, which the gRPC stream does not carry per call.
	cfg := sdktest.Config(t, s.Teacher.Describe().Schema, map[string]cty.Value{"base_url": cty.StringVal(s.BaseURL(srv.URL)), "api_key": cty.StringVal(Key)})
	g, diags := s.Teacher.Open(context.Background(), sdk.OpenRequest{Model: s.Model, Config: sdk.Config{V: cfg}})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	hang := &sdk.Call{ID: "h", Messages: user("[[fault:hang]]")}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := g.Generate(ctx, hang)
	var ce *sdk.CallError
	if !errors.As(err, &ce) || ce.Code != sdk.ErrCancelled {
		t.Errorf("cancelled call: %v, want cancelled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cancellation took %s", el)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = g.Generate(ctx, hang)
	if !errors.As(err, &ce) || ce.Code != sdk.ErrTimeout {
		t.Errorf("call past its deadline: %v, want timeout", err)
	}

	// Unreachable server.
	cfg2 := sdktest.Config(t, s.Teacher.Describe().Schema, map[string]cty.Value{"base_url": cty.StringVal(s.BaseURL("http://127.0.0.1:1")), "api_key": cty.StringVal(Key)})
	g2, _ := s.Teacher.Open(context.Background(), sdk.OpenRequest{Model: s.Model, Config: sdk.Config{V: cfg2}})
	_, err = g2.Generate(context.Background(), &sdk.Call{ID: "x", Messages: user("Hallo")})
	if !errors.As(err, &ce) || ce.Code != sdk.ErrUnreachable || strings.Contains(ce.Message, Key) ||
		!strings.Contains(ce.Message, "connection refused") || !strings.Contains(ce.Message, s.BaseURL("http://127.0.0.1:1")) {
		t.Errorf("unreachable server: %v, want unreachable, saying why and where", err)
	}
}

func testConfig(t *testing.T, s Suite) {
	schema := s.Teacher.Describe().Schema
	var sensitive bool
	for _, a := range schema.Attributes {
		if a.Name == "api_key" {
			sensitive = a.Sensitive
		}
	}
	if !sensitive {
		t.Error("api_key is not marked sensitive")
	}
	for _, tc := range []struct {
		attr  string
		value cty.Value
	}{
		{"base_url", cty.StringVal("not a url")},
		{"timeout", cty.StringVal("600s")}, // belongs in limits
		{"api_key", cty.StringVal(Key + "\n")},
	} {
		cfg := sdktest.Config(t, schema, map[string]cty.Value{tc.attr: tc.value})
		_, diags := s.Teacher.Open(context.Background(), sdk.OpenRequest{Model: s.Model, Config: sdk.Config{V: cfg}})
		if !diags.HasErrors() {
			t.Errorf("%s = %#v: no error", tc.attr, tc.value)
			continue
		}
		if p := sdk.PathString(diags[0].Path); p != tc.attr {
			t.Errorf("%s = %#v: diagnostic at %q, want %q", tc.attr, tc.value, p, tc.attr)
		}
		if strings.Contains(fmt.Sprint(diags), Key) {
			t.Errorf("diagnostics quote the key: %v", diags)
		}
	}
	cfg := sdktest.Config(t, schema, nil)
	if _, diags := s.Teacher.Open(context.Background(), sdk.OpenRequest{Model: "", Config: sdk.Config{V: cfg}}); !diags.HasErrors() {
		t.Error("an empty model is accepted")
	}
}

func testBatch(t *testing.T, s Suite) {
	srv := fakeprovider.Start(t, fakeprovider.Options{Seed: 3, APIKey: Key, BatchPolls: 2})
	c, o := s.Open(t, srv, nil)
	calls := []*sdk.Call{
		{ID: "cell-de/gen/0001", Messages: user("Erzeuge eine Aufgabe."), Sampling: sdk.Sampling{MaxTokens: 200}, Output: sdk.OutputFormat{JSON: true, JSONSchema: pgSchema}},
		{ID: "cell-de/resp/0002", Messages: user("Antworte kurz. [[words:6]]"), Sampling: sdk.Sampling{MaxTokens: 100}},
		{ID: "cell-de/resp/0003", Messages: user("Antworte. [[fault:bad_request]]"), Sampling: sdk.Sampling{MaxTokens: 100}},
		{ID: "cell-de/resp/0004", Messages: user("Antworte. [[fault:server]]"), Sampling: sdk.Sampling{MaxTokens: 100}},
		{ID: "cell-de/resp/0005", Messages: user("Antworte lang. [[words:30]]"), Sampling: sdk.Sampling{MaxTokens: 3}},
	}
	ctx := context.Background()
	id, diags, err := c.SubmitBatch(ctx, o, calls)
	if err != nil || diags.HasErrors() {
		t.Fatalf("submit: %v %v", err, diags.Err())
	}
	var results []*sdk.Result
	polls := 0
	for {
		st, rs, diags, err := c.PollBatch(ctx, o, id)
		if err != nil || diags.HasErrors() {
			t.Fatalf("poll: %v %v", err, diags.Err())
		}
		polls++
		if st == "done" {
			results = rs
			break
		}
		if st != "running" || polls > 10 {
			t.Fatalf("poll %d: status %q", polls, st)
		}
	}
	if polls != 3 {
		t.Errorf("polls = %d, want 3 (the fake ends after 2 in-progress answers)", polls)
	}
	if st := srv.Stats(); st.Rejected != 0 {
		t.Fatalf("the fake rejected requests: %v", st.Rejections)
	}
	byID := map[string]*sdk.Result{}
	for _, r := range results {
		noKey(t, r)
		byID[r.ID] = r
	}
	if len(byID) != len(calls) {
		t.Fatalf("got results for %d calls, want %d: %v", len(byID), len(calls), byID)
	}
	if r := byID["cell-de/gen/0001"]; r.Err != nil || !json.Valid([]byte(r.Text)) || !strings.HasPrefix(r.Text, "{") || r.Usage.OutputTokens == 0 {
		t.Errorf("JSON batch line: %+v err %v", r, r.Err)
	}
	if r := byID["cell-de/resp/0002"]; r.Err != nil || len(strings.Fields(r.Text)) != 6 || r.FinishReason != "stop" {
		t.Errorf("text batch line: %+v err %v", r, r.Err)
	}
	if r := byID["cell-de/resp/0003"]; r.Err == nil || r.Err.Code != sdk.ErrInvalidRequest {
		t.Errorf("bad-request batch line: %+v", r.Err)
	}
	if r := byID["cell-de/resp/0004"]; r.Err == nil || r.Err.Code != sdk.ErrServer {
		t.Errorf("server-error batch line: %+v", r.Err)
	}
	if r := byID["cell-de/resp/0005"]; r.Err != nil || r.FinishReason != "length" {
		t.Errorf("length batch line: %+v err %v", r, r.Err)
	}
	// An unknown batch id is an error, not a hang.
	if _, _, _, err := c.PollBatch(ctx, o, "batch_nope"); err == nil {
		t.Error("polling an unknown batch succeeded")
	}
}
