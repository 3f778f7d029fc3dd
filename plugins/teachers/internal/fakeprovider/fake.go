// Package fakeprovider is an HTTP server on 127.0.0.1 that speaks the wire
// formats of the teacher back ends polyglot supports: OpenAI-compatible chat
// completions and the OpenAI Batch API, Anthropic Messages and Message
// Batches, Gemini generateContent and Cohere v2 chat. Tests of the teacher
// plugins run against it instead of mocks, so that request encoding,
// headers, status handling and body parsing are exercised for real.
//
// It checks each request's shape and authentication the way the real APIs
// do (unknown fields are rejected where the real API rejects them), answers
// with realistic bodies (usage, finish reasons, ids), and injects failures:
//
//   - at configured rates (Options.Rates), decided per request from the seed
//     and the request's arrival number, so a run with the same seed and the
//     same number of requests sees the same faults;
//   - on demand: a user message containing "[[fault:NAME]]" gets fault NAME.
//     In a batch line "malformed" is a success whose text is cut in half
//     (the batch file stays well-formed); transport faults become 500s.
//
// Other directives: "[[words:N]]" sets the answer's length in words (the
// fake's unit of tokens). Answers are deterministic in the seed and the last
// user message. A request asking for JSON gets {"prompt":..,"response":..}:
// bare when a structured-output mode was requested, wrapped in prose and a
// code fence when it was only asked for in the system prompt.
package fakeprovider

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
)

// Fault is a kind of injected failure.
type Fault string

const (
	// FaultRateLimit answers 429 with Retry-After in whole seconds.
	FaultRateLimit Fault = "rate_limit"
	// FaultRateLimitDate answers 429 with Retry-After as an HTTP-date.
	FaultRateLimitDate Fault = "rate_limit_date"
	// FaultRateLimitBare answers 429 without Retry-After; the provider's own
	// reset information is sent instead where the provider has one (OpenAI
	// x-ratelimit-reset-*, Anthropic anthropic-ratelimit-*-reset, Gemini
	// RetryInfo in the body; Cohere sends nothing).
	FaultRateLimitBare Fault = "rate_limit_bare"
	// FaultServer answers 500.
	FaultServer Fault = "server"
	// FaultOverloaded answers 529 (Anthropic) or 503 (the others).
	FaultOverloaded Fault = "overloaded"
	// FaultHang never answers; the client must time out.
	FaultHang Fault = "hang"
	// FaultMalformed answers 200 with a syntactically broken JSON body.
	FaultMalformed Fault = "malformed"
	// FaultTruncated announces a full body, sends half and drops the
	// connection.
	FaultTruncated Fault = "truncated"
	// FaultAuth answers 401 and quotes the key it was given, as some
	// providers do, so that tests can check the key is scrubbed.
	FaultAuth Fault = "auth"
	// FaultBadRequest answers 400.
	FaultBadRequest Fault = "bad_request"
	// FaultNotFound answers 404 (unknown model).
	FaultNotFound Fault = "not_found"
	// FaultContentFilter answers 200 with the provider's content-filter
	// outcome (not for Cohere, which has none).
	FaultContentFilter Fault = "content_filter"
)

// rateOrder fixes the order in which rates are laid on [0,1), so that a
// seed means the same thing in every run.
var rateOrder = []Fault{FaultAuth, FaultRateLimit, FaultRateLimitDate, FaultRateLimitBare, FaultServer, FaultOverloaded, FaultHang, FaultMalformed, FaultTruncated, FaultBadRequest, FaultNotFound, FaultContentFilter}

// Options configures a Server. The zero value answers every request.
type Options struct {
	// Seed makes answers and rate-based faults reproducible.
	Seed int64
	// Rates are probabilities per request; their sum must not exceed 1.
	Rates map[Fault]float64
	// APIKey, when set, is the only key accepted; requests without it get
	// the provider's 401.
	APIKey string
	// RetryAfter is what rate-limit answers ask for (default 2s).
	RetryAfter time.Duration
	// ResetAfter is the provider reset time sent with FaultRateLimitBare
	// (default 6m).
	ResetAfter time.Duration
	// BatchPolls is how many status requests a batch answers "in progress"
	// before it ends (default 1).
	BatchPolls int
	// HoldBatch, when > 0, holds the HoldBatch-th well-formed batch
	// submission (counting from 1) unanswered until its client goes away
	// or the server closes, and then drops it: it is never accepted. A test
	// kills the client while Stats.HeldBatches says the submission is held,
	// so the client dies having decided a batch it never submitted. Later
	// submissions are accepted as usual.
	HoldBatch int
	// Record keeps every request (path, headers, body) for Requests.
	Record bool
	// AnswerDelay holds every successful synchronous answer this long (a
	// slow model), unless the client goes away first.
	AnswerDelay time.Duration
}

// Recorded is one received request.
type Recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// Stats counts what the server received.
type Stats struct {
	Requests int64
	ByRoute  map[string]int64
	Faults   map[Fault]int64
	// Rejected counts requests refused for their shape or auth (not
	// injected faults); Rejections says why, in order.
	Rejected   int64
	Rejections []string
	// BatchCalls counts the requests inside accepted batch submissions
	// (OpenAI batch input lines, Anthropic batch requests).
	BatchCalls int64
	// Batches are the custom_ids of each accepted batch submission, in
	// the order they arrived.
	Batches [][]string
	// HeldBatches counts submissions held by Options.HoldBatch (at most 1).
	HeldBatches int64
}

// Server is a running fake provider.
type Server struct {
	// URL is the server root, e.g. http://127.0.0.1:41234. OpenAI clients
	// use URL+"/v1"; the others use URL.
	URL string

	opts Options
	srv  *httptest.Server
	quit chan struct{}
	seq  atomic.Int64
	ids  atomic.Int64
	// submits numbers well-formed batch submissions, for HoldBatch.
	submits atomic.Int64

	batchMu sync.Mutex // serialises batch completion
	mu      sync.Mutex
	stats   Stats
	records []Recorded
	files   map[string][]byte
	batches map[string]*batch
	missing map[string]bool // models answered 404 (SetMissingModels)
}

// New starts a server on 127.0.0.1; Close stops it.
func New(opts Options) *Server {
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 2 * time.Second
	}
	if opts.ResetAfter <= 0 {
		opts.ResetAfter = 6 * time.Minute
	}
	if opts.BatchPolls <= 0 {
		opts.BatchPolls = 1
	}
	sum := 0.0
	for _, r := range opts.Rates {
		sum += r
	}
	if sum > 1+1e-9 {
		panic(fmt.Sprintf("fakeprovider: fault rates sum to %g > 1", sum))
	}
	s := &Server{opts: opts, quit: make(chan struct{}), files: map[string][]byte{}, batches: map[string]*batch{}}
	s.stats.ByRoute = map[string]int64{}
	s.stats.Faults = map[Fault]int64{}
	mux := http.NewServeMux()
	s.routes(mux)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Start is New with t.Cleanup(Close).
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// Close releases hanging requests and stops the server.
func (s *Server) Close() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	s.srv.Close()
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.ByRoute = make(map[string]int64, len(s.stats.ByRoute))
	for k, v := range s.stats.ByRoute {
		out.ByRoute[k] = v
	}
	out.Faults = make(map[Fault]int64, len(s.stats.Faults))
	for k, v := range s.stats.Faults {
		out.Faults[k] = v
	}
	out.Rejections = append([]string(nil), s.stats.Rejections...)
	out.Batches = make([][]string, len(s.stats.Batches))
	for i, ids := range s.stats.Batches {
		out.Batches[i] = append([]string(nil), ids...)
	}
	return out
}

// addBatch counts an accepted batch and its requests' custom_ids.
func (s *Server) addBatch(ids []string) {
	s.mu.Lock()
	s.stats.BatchCalls += int64(len(ids))
	s.stats.Batches = append(s.stats.Batches, ids)
	s.mu.Unlock()
}

// Requests returns the recorded requests (Options.Record).
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.records...)
}

func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/chat/completions", s.openaiChat)
	mux.HandleFunc("POST /v1/files", s.openaiUpload)
	mux.HandleFunc("GET /v1/files/{id}/content", s.openaiFileContent)
	mux.HandleFunc("POST /v1/batches", s.openaiCreateBatch)
	mux.HandleFunc("GET /v1/batches/{id}", s.openaiGetBatch)
	mux.HandleFunc("POST /v1/messages", s.anthropicMessages)
	mux.HandleFunc("POST /v1/messages/batches", s.anthropicCreateBatch)
	mux.HandleFunc("GET /v1/messages/batches/{id}", s.anthropicGetBatch)
	mux.HandleFunc("GET /v1/messages/batches/{id}/results", s.anthropicBatchResults)
	mux.HandleFunc("POST /v1beta/models/{call}", s.geminiGenerate)
	mux.HandleFunc("POST /v2/chat", s.cohereChat)
}

// count records a request and returns its arrival number.
func (s *Server) count(route string, r *http.Request, body []byte) int64 {
	n := s.seq.Add(1) - 1
	s.mu.Lock()
	s.stats.Requests++
	s.stats.ByRoute[route]++
	if s.opts.Record {
		s.records = append(s.records, Recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: append([]byte(nil), body...)})
	}
	s.mu.Unlock()
	return n
}

func (s *Server) reject(why string) {
	s.mu.Lock()
	s.stats.Rejected++
	if len(s.stats.Rejections) < 1000 {
		s.stats.Rejections = append(s.stats.Rejections, why)
	}
	s.mu.Unlock()
}

func (s *Server) noteFault(f Fault) {
	s.mu.Lock()
	s.stats.Faults[f]++
	s.mu.Unlock()
}

var directiveRE = regexp.MustCompile(`\[\[(fault|words):([a-z_0-9]+)\]\]`)

// pickFault decides the fault for request n: a directive in the last user
// message wins, then the rates.
func (s *Server) pickFault(n int64, lastUser string) Fault {
	for _, m := range directiveRE.FindAllStringSubmatch(lastUser, -1) {
		if m[1] == "fault" {
			return Fault(m[2])
		}
	}
	if len(s.opts.Rates) == 0 {
		return ""
	}
	u := float64(mix(uint64(s.opts.Seed)^uint64(n)*0x9e3779b97f4a7c15)>>11) / (1 << 53)
	acc := 0.0
	for _, f := range rateOrder {
		acc += s.opts.Rates[f]
		if u < acc {
			return f
		}
	}
	return ""
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// ---------------------------------------------------------------- answers

type jsonMode int

const (
	jsonNone jsonMode = iota
	jsonStructured
	jsonInstructed
)

// chat is a provider request reduced to what the answer depends on.
type chat struct {
	Model     string
	System    string
	Turns     []turn
	MaxTokens int
	JSON      jsonMode
	Stop      []string
}

type turn struct{ Role, Text string }

func (c *chat) lastUser() string {
	for i := len(c.Turns) - 1; i >= 0; i-- {
		if c.Turns[i].Role == "user" {
			return c.Turns[i].Text
		}
	}
	return ""
}

// answer is a provider-neutral outcome.
type answer struct {
	Text    string
	Length  bool // cut at max tokens
	In, Out int
}

var words = []string{"Hallo", "mundo", "kniha", "selamat", "ありがとう", "مرحبا", "Grammatik", "respuesta", "jawaban", "odpověď", "Beispiel", "ejemplo", "contoh", "příklad", "例えば", "مثال", "und", "y", "dan", "a"}

func countWords(s string) int { return len(strings.Fields(s)) }

// answerFor builds the deterministic answer to a chat.
func (s *Server) answerFor(c *chat) answer {
	last := c.lastUser()
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%s|%s", s.opts.Seed, c.Model, last)
	seed := h.Sum64()
	n := 8 + int(seed%8)
	for _, m := range directiveRE.FindAllStringSubmatch(last, -1) {
		if m[1] == "words" {
			if v, err := strconv.Atoi(m[2]); err == nil && v > 0 {
				n = v
			}
		}
	}
	pick := func(k int) string {
		out := make([]string, k)
		x := seed
		for i := range out {
			x = mix(x + uint64(i))
			out[i] = words[x%uint64(len(words))]
		}
		return strings.Join(out, " ")
	}
	var text string
	switch c.JSON {
	case jsonNone:
		text = pick(n)
	default:
		half := max(n/2, 1)
		obj, _ := json.Marshal(map[string]string{"prompt": pick(half), "response": pick(n - half + 1)})
		text = string(obj)
		if c.JSON == jsonInstructed {
			text = "Natürlich! Hier ist das Objekt:\n```json\n" + text + "\n```"
		}
	}
	in := countWords(c.System)
	for _, t := range c.Turns {
		in += countWords(t.Text)
	}
	a := answer{Text: text, In: in}
	f := strings.Fields(text)
	if c.MaxTokens > 0 && len(f) > c.MaxTokens {
		// Cut inside the text, as a model does; a JSON answer becomes invalid.
		a.Text, a.Length = cutWords(text, c.MaxTokens), true
		a.Out = c.MaxTokens
		return a
	}
	a.Out = len(f)
	return a
}

// wantsJSONByInstruction is how the fake notices a JSON request made only
// in the prompt.
func wantsJSONByInstruction(system string) bool { return strings.Contains(system, "JSON") }

// ---------------------------------------------------------------- faults

// errKind is a provider-neutral error class.
type errKind int

const (
	kindInvalid errKind = iota
	kindAuth
	kindNotFound
	kindRateLimit
	kindServer
	kindOverloaded
)

// dialect renders one provider's bodies and headers.
type dialect struct {
	name string
	// errorBody renders an error answer.
	errorBody func(k errKind, status int, msg string, retry time.Duration) []byte
	// status maps an error kind to the provider's status code.
	status func(k errKind) int
	// bareRateHeaders sets the provider's own rate-limit reset headers.
	bareRateHeaders func(h http.Header, reset time.Duration)
	// malformed is a broken success body.
	malformed string
}

func defaultStatus(k errKind) int {
	switch k {
	case kindAuth:
		return 401
	case kindNotFound:
		return 404
	case kindRateLimit:
		return 429
	case kindServer:
		return 500
	case kindOverloaded:
		return 503
	}
	return 400
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) writeError(w http.ResponseWriter, d *dialect, k errKind, msg string, retry time.Duration) {
	st := d.status(k)
	writeJSON(w, st, d.errorBody(k, st, msg, retry))
}

// applyFault writes the answer for an injected fault and reports whether it
// did (false: answer normally; content_filter is left to the caller).
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, d *dialect, f Fault, presentedKey string, success []byte) bool {
	if f == "" || f == FaultContentFilter {
		if f != "" {
			s.noteFault(f)
		}
		return false
	}
	s.noteFault(f)
	secs := int(math.Ceil(s.opts.RetryAfter.Seconds()))
	switch f {
	case FaultRateLimit:
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.writeError(w, d, kindRateLimit, "Rate limit reached for requests. Please try again in "+strconv.Itoa(secs)+"s.", 0)
	case FaultRateLimitDate:
		w.Header().Set("Retry-After", time.Now().Add(s.opts.RetryAfter).UTC().Format(http.TimeFormat))
		s.writeError(w, d, kindRateLimit, "Rate limit reached for requests.", 0)
	case FaultRateLimitBare:
		d.bareRateHeaders(w.Header(), s.opts.ResetAfter)
		s.writeError(w, d, kindRateLimit, "Rate limit reached for tokens.", s.opts.ResetAfter)
	case FaultServer:
		s.writeError(w, d, kindServer, "The server had an error while processing your request.", 0)
	case FaultOverloaded:
		s.writeError(w, d, kindOverloaded, "The service is temporarily overloaded.", 0)
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
	case FaultMalformed:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(d.malformed))
	case FaultTruncated:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(success)))
		w.WriteHeader(200)
		_, _ = w.Write(success[:len(success)/2])
		// net/http closes the connection when a handler writes less than
		// its Content-Length; the client sees an unexpected EOF.
	case FaultAuth:
		s.writeError(w, d, kindAuth, "Incorrect API key provided: "+presentedKey+". You can find your API key in your account settings.", 0)
	case FaultBadRequest:
		s.writeError(w, d, kindInvalid, "Invalid request: the model rejected the input.", 0)
	case FaultNotFound:
		s.writeError(w, d, kindNotFound, "The model does not exist or you do not have access to it.", 0)
	default:
		s.writeError(w, d, kindInvalid, "fakeprovider: unknown fault "+string(f), 0)
	}
	return true
}

// checkKey answers 401 when a key is configured and the request's differs.
func (s *Server) checkKey(w http.ResponseWriter, d *dialect, presented string) bool {
	if s.opts.APIKey == "" || presented == s.opts.APIKey {
		return true
	}
	s.reject(d.name + ": wrong or missing API key")
	s.writeError(w, d, kindAuth, "Invalid API key provided: "+presented, 0)
	return false
}

// badShape answers 400 for a malformed request and records why.
func (s *Server) badShape(w http.ResponseWriter, d *dialect, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.reject(d.name + ": " + msg)
	s.writeError(w, d, kindInvalid, msg, 0)
}

func readBody(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }

// cutWords keeps the first n white-space separated words of text.
func cutWords(text string, n int) string {
	k, inWord := 0, false
	for i, r := range text {
		if unicode.IsSpace(r) {
			if inWord {
				if k++; k == n {
					return text[:i]
				}
			}
			inWord = false
		} else {
			inWord = true
		}
	}
	return text
}

func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON body")
	}
	return nil
}

func (s *Server) newID(prefix string) string { return fmt.Sprintf("%s%06d", prefix, s.ids.Add(1)) }
