package fakeprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"
)

// AnthropicVersion is the API version header the fake requires.
const AnthropicVersion = "2023-06-01"

var anthropicDialect = &dialect{
	name: "anthropic",
	status: func(k errKind) int {
		if k == kindOverloaded {
			return 529
		}
		return defaultStatus(k)
	},
	errorBody: func(k errKind, status int, msg string, _ time.Duration) []byte {
		typ := map[errKind]string{kindInvalid: "invalid_request_error", kindAuth: "authentication_error", kindNotFound: "not_found_error", kindRateLimit: "rate_limit_error", kindServer: "api_error", kindOverloaded: "overloaded_error"}[k]
		b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}, "request_id": "req_fake"})
		return b
	},
	bareRateHeaders: func(h http.Header, reset time.Duration) {
		now := time.Now().UTC()
		h.Set("anthropic-ratelimit-requests-limit", "50")
		h.Set("anthropic-ratelimit-requests-remaining", "0")
		h.Set("anthropic-ratelimit-requests-reset", now.Add(reset).Format(time.RFC3339))
		h.Set("anthropic-ratelimit-tokens-limit", "40000")
		h.Set("anthropic-ratelimit-tokens-remaining", "39000")
		h.Set("anthropic-ratelimit-tokens-reset", now.Add(time.Second).Format(time.RFC3339))
	},
	malformed: `{"id":"msg_x","type":"message","role":"assistant","content":[{"type":"text","text":"Hal`,
}

type anBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// anRequest holds the Messages API fields; like the real API the fake
// rejects any other field (e.g. "seed", which Anthropic does not have).
type anRequest struct {
	Model         string            `json:"model"`
	Messages      []anMessage       `json:"messages"`
	System        json.RawMessage   `json:"system"`
	MaxTokens     int               `json:"max_tokens"`
	Metadata      map[string]string `json:"metadata"`
	StopSequences []string          `json:"stop_sequences"`
	Stream        bool              `json:"stream"`
	Temperature   *float64          `json:"temperature"`
	TopK          *int              `json:"top_k"`
	TopP          *float64          `json:"top_p"`
	ServiceTier   string            `json:"service_tier"`
}

type anMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// blocksText reads a string or an array of text blocks.
func blocksText(raw json.RawMessage, where string) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var blocks []anBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", fmt.Errorf("%s: expected a string or a list of content blocks", where)
	}
	out := ""
	for i, b := range blocks {
		if b.Type != "text" {
			return "", fmt.Errorf("%s.%d.type: fakeprovider knows only text blocks, got %q", where, i, b.Type)
		}
		out += b.Text
	}
	return out, nil
}

func parseAnthropic(body []byte) (*chat, error) {
	var q anRequest
	if err := strictDecode(body, &q); err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	return anthropicChat(&q)
}

func anthropicChat(q *anRequest) (*chat, error) {
	if q.Model == "" {
		return nil, errors.New("model: Field required")
	}
	if q.MaxTokens <= 0 {
		return nil, errors.New("max_tokens: Field required (a positive integer)")
	}
	if len(q.Messages) == 0 {
		return nil, errors.New("messages: at least one message is required")
	}
	if q.Stream {
		return nil, errors.New("fakeprovider: streaming is not used by polyglot")
	}
	if q.Temperature != nil && (*q.Temperature < 0 || *q.Temperature > 1) {
		return nil, fmt.Errorf("temperature: %g is out of range [0, 1]", *q.Temperature)
	}
	c := &chat{Model: q.Model, MaxTokens: q.MaxTokens, Stop: q.StopSequences}
	sys, err := blocksText(q.System, "system")
	if err != nil {
		return nil, err
	}
	c.System = sys
	for i, m := range q.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, fmt.Errorf("messages.%d.role: Input should be 'user' or 'assistant' (system goes in the top-level system field)", i)
		}
		if i == 0 && m.Role != "user" {
			return nil, errors.New("messages: the first message must use the user role")
		}
		t, err := blocksText(m.Content, fmt.Sprintf("messages.%d.content", i))
		if err != nil {
			return nil, err
		}
		c.Turns = append(c.Turns, turn{m.Role, t})
	}
	if wantsJSONByInstruction(c.System) {
		c.JSON = jsonInstructed
	}
	return c, nil
}

func renderAnthropic(id string) func(c *chat, a answer, filtered bool) []byte {
	return func(c *chat, a answer, filtered bool) []byte {
		stop, content := "end_turn", []any{map[string]any{"type": "text", "text": a.Text}}
		switch {
		case filtered:
			stop, content = "refusal", []any{}
		case a.Length:
			stop = "max_tokens"
		}
		b, _ := json.Marshal(map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": c.Model, "content": content,
			"stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": a.In, "output_tokens": a.Out, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
		})
		return b
	}
}

// anthropicHeaders checks the version and content type; false when it
// answered an error.
func (s *Server) anthropicHeaders(w http.ResponseWriter, r *http.Request) bool {
	if v := r.Header.Get("anthropic-version"); v != AnthropicVersion {
		s.badShape(w, anthropicDialect, "anthropic-version header: want %q, got %q", AnthropicVersion, v)
		return false
	}
	return true
}

func (s *Server) anthropicMessages(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("anthropic-version") != AnthropicVersion {
		_, _ = readBody(r)
		s.count("anthropic.messages", r, nil)
		s.anthropicHeaders(w, r)
		return
	}
	s.serveChat(w, r, anthropicDialect, "anthropic.messages", r.Header.Get("x-api-key"), parseAnthropic, renderAnthropic(s.newID("msg_")))
}

// ------------------------------------------------------------ batches

var customIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func (s *Server) anthropicCreateBatch(w http.ResponseWriter, r *http.Request) {
	body, _ := readBody(r)
	s.count("anthropic.batches", r, body)
	d := anthropicDialect
	if !s.anthropicHeaders(w, r) || !s.checkKey(w, d, r.Header.Get("x-api-key")) {
		return
	}
	var q struct {
		Requests []struct {
			CustomID string    `json:"custom_id"`
			Params   anRequest `json:"params"`
		} `json:"requests"`
	}
	if err := strictDecode(body, &q); err != nil {
		s.badShape(w, d, "batch body: %v", err)
		return
	}
	if len(q.Requests) == 0 {
		s.badShape(w, d, "requests: at least one request is required")
		return
	}
	seen := map[string]bool{}
	for i, rq := range q.Requests {
		if !customIDRE.MatchString(rq.CustomID) {
			s.badShape(w, d, "requests.%d.custom_id: %q must match ^[a-zA-Z0-9_-]{1,64}$", i, rq.CustomID)
			return
		}
		if seen[rq.CustomID] {
			s.badShape(w, d, "requests.%d.custom_id: %q is used twice", i, rq.CustomID)
			return
		}
		seen[rq.CustomID] = true
	}
	// Held before any answer is made, so a dropped batch leaves no trace
	// in the fault counts.
	if s.holdSubmission(r) {
		return
	}
	b := &batch{id: s.newID("msgbatch_"), created: time.Now().Unix()}
	for _, rq := range q.Requests {
		p := rq.Params
		c, err := anthropicChat(&p)
		var line []byte
		switch {
		case err != nil:
			line, _ = json.Marshal(map[string]any{"custom_id": rq.CustomID, "result": map[string]any{"type": "errored", "error": json.RawMessage(d.errorBody(kindInvalid, 400, err.Error(), 0))}})
			b.errored++
		default:
			f := Fault("")
			for _, m := range directiveRE.FindAllStringSubmatch(c.lastUser(), -1) {
				if m[1] == "fault" {
					f = Fault(m[2])
				}
			}
			if k, isErr := batchFault(f); isErr {
				line, _ = json.Marshal(map[string]any{"custom_id": rq.CustomID, "result": map[string]any{"type": "errored", "error": json.RawMessage(d.errorBody(k, d.status(k), "injected failure "+string(f), 0))}})
				b.errored++
			} else {
				line, _ = json.Marshal(map[string]any{"custom_id": rq.CustomID, "result": map[string]any{"type": "succeeded", "message": json.RawMessage(renderAnthropic(s.newID("msg_"))(c, s.batchAnswer(c, f), f == FaultContentFilter))}})
				b.succeeded++
			}
		}
		b.lines = append(b.lines, line)
	}
	b.all = len(q.Requests)
	s.mu.Lock()
	s.batches[b.id] = b
	s.mu.Unlock()
	ids := make([]string, len(q.Requests))
	for i, rq := range q.Requests {
		ids[i] = rq.CustomID
	}
	s.addBatch(ids)
	writeJSON(w, 200, s.anthropicBatchJSON(b, false))
}

func (s *Server) anthropicBatchJSON(b *batch, ended bool) []byte {
	created := time.Unix(b.created, 0).UTC()
	m := map[string]any{
		"id": b.id, "type": "message_batch", "created_at": created.Format(time.RFC3339),
		"expires_at": created.Add(24 * time.Hour).Format(time.RFC3339), "archived_at": nil, "cancel_initiated_at": nil,
		"ended_at": nil, "results_url": nil, "processing_status": "in_progress",
		"request_counts": map[string]int{"processing": b.all, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
	}
	if ended {
		m["processing_status"] = "ended"
		m["ended_at"] = time.Now().UTC().Format(time.RFC3339)
		m["results_url"] = s.URL + "/v1/messages/batches/" + b.id + "/results"
		m["request_counts"] = map[string]int{"processing": 0, "succeeded": b.succeeded, "errored": b.errored, "canceled": b.canceled, "expired": b.expired}
	}
	out, _ := json.Marshal(m)
	return out
}

func (s *Server) anthropicGetBatch(w http.ResponseWriter, r *http.Request) {
	s.count("anthropic.batch_get", r, nil)
	d := anthropicDialect
	if !s.anthropicHeaders(w, r) || !s.checkKey(w, d, r.Header.Get("x-api-key")) {
		return
	}
	s.mu.Lock()
	b, ok := s.batches[r.PathValue("id")]
	if ok {
		b.polls++
	}
	s.mu.Unlock()
	if !ok {
		s.writeError(w, d, kindNotFound, "message batch "+r.PathValue("id")+" not found", 0)
		return
	}
	writeJSON(w, 200, s.anthropicBatchJSON(b, b.polls > s.opts.BatchPolls))
}

func (s *Server) anthropicBatchResults(w http.ResponseWriter, r *http.Request) {
	s.count("anthropic.batch_results", r, nil)
	d := anthropicDialect
	if !s.anthropicHeaders(w, r) || !s.checkKey(w, d, r.Header.Get("x-api-key")) {
		return
	}
	s.mu.Lock()
	b, ok := s.batches[r.PathValue("id")]
	ended := ok && b.polls > s.opts.BatchPolls
	s.mu.Unlock()
	if !ok || !ended {
		s.writeError(w, d, kindNotFound, "results for message batch "+r.PathValue("id")+" are not available", 0)
		return
	}
	// Results come in no particular order: reverse them so clients must key
	// on custom_id.
	var out bytes.Buffer
	for i := len(b.lines) - 1; i >= 0; i-- {
		out.Write(b.lines[i])
		out.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "application/x-jsonl")
	_, _ = w.Write(out.Bytes())
}
