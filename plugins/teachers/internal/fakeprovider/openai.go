package fakeprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

var openaiDialect = &dialect{
	name:   "openai",
	status: defaultStatus,
	errorBody: func(k errKind, status int, msg string, _ time.Duration) []byte {
		typ, code := "invalid_request_error", any(nil)
		switch k {
		case kindAuth:
			typ, code = "invalid_request_error", "invalid_api_key"
		case kindNotFound:
			typ, code = "invalid_request_error", "model_not_found"
		case kindRateLimit:
			typ, code = "requests", "rate_limit_exceeded"
		case kindServer, kindOverloaded:
			typ = "server_error"
		}
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
		return b
	},
	bareRateHeaders: func(h http.Header, reset time.Duration) {
		h.Set("x-ratelimit-limit-requests", "500")
		h.Set("x-ratelimit-remaining-requests", "0")
		h.Set("x-ratelimit-reset-requests", reset.String())
		h.Set("x-ratelimit-limit-tokens", "30000")
		h.Set("x-ratelimit-remaining-tokens", "29000")
		h.Set("x-ratelimit-reset-tokens", "20ms")
	},
	malformed: `{"id":"chatcmpl-x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hal`,
}

type oaMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name,omitempty"`
}

// oaRequest lists the fields the fake understands; like vLLM it accepts
// other fields (top_k, repetition_penalty...) and records them.
type oaRequest struct {
	Model               string          `json:"model"`
	Messages            []oaMessage     `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"`
	N                   *int            `json:"n"`
	Stream              bool            `json:"stream"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int64          `json:"seed"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict *bool           `json:"strict"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

var schemaNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func parseOpenAI(body []byte) (*chat, error) {
	var q oaRequest
	if err := json.Unmarshal(body, &q); err != nil {
		return nil, fmt.Errorf("We could not parse the JSON body of your request: %v", err)
	}
	if q.Model == "" {
		return nil, errors.New("you must provide a model parameter")
	}
	if len(q.Messages) == 0 {
		return nil, errors.New("'messages' must contain at least one message")
	}
	if q.Stream {
		return nil, errors.New("fakeprovider: streaming is not used by polyglot")
	}
	if q.N != nil && *q.N != 1 {
		return nil, errors.New("fakeprovider: n must be 1")
	}
	if q.Temperature != nil && (*q.Temperature < 0 || *q.Temperature > 2) {
		return nil, fmt.Errorf("temperature %g is out of range [0, 2]", *q.Temperature)
	}
	if q.TopP != nil && (*q.TopP <= 0 || *q.TopP > 1) {
		return nil, fmt.Errorf("top_p %g is out of range (0, 1]", *q.TopP)
	}
	if q.MaxTokens != nil && q.MaxCompletionTokens != nil {
		return nil, errors.New("max_tokens and max_completion_tokens are mutually exclusive")
	}
	c := &chat{Model: q.Model}
	for i, m := range q.Messages {
		var text string
		if err := json.Unmarshal(m.Content, &text); err != nil {
			return nil, fmt.Errorf("messages[%d].content must be a string", i)
		}
		switch m.Role {
		case "system", "developer":
			if c.System != "" {
				c.System += "\n\n"
			}
			c.System += text
		case "user", "assistant":
			c.Turns = append(c.Turns, turn{m.Role, text})
		default:
			return nil, fmt.Errorf("messages[%d].role %q is not one of system, developer, user, assistant", i, m.Role)
		}
	}
	if len(q.Stop) > 0 {
		var one string
		var many []string
		if json.Unmarshal(q.Stop, &one) == nil {
			c.Stop = []string{one}
		} else if json.Unmarshal(q.Stop, &many) == nil {
			if len(many) > 4 {
				return nil, errors.New("stop may hold at most 4 sequences")
			}
			c.Stop = many
		} else {
			return nil, errors.New("stop must be a string or an array of strings")
		}
	}
	switch {
	case q.MaxTokens != nil:
		c.MaxTokens = *q.MaxTokens
	case q.MaxCompletionTokens != nil:
		c.MaxTokens = *q.MaxCompletionTokens
	}
	if rf := q.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text":
		case "json_object":
			if !strings.Contains(strings.ToLower(c.System+c.lastUser()), "json") {
				return nil, errors.New("'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'")
			}
			c.JSON = jsonStructured
		case "json_schema":
			if rf.JSONSchema == nil || !schemaNameRE.MatchString(rf.JSONSchema.Name) {
				return nil, errors.New("response_format.json_schema.name is required and must match ^[a-zA-Z0-9_-]{1,64}$")
			}
			var obj map[string]any
			if err := json.Unmarshal(rf.JSONSchema.Schema, &obj); err != nil {
				return nil, errors.New("response_format.json_schema.schema must be a JSON object")
			}
			c.JSON = jsonStructured
		default:
			return nil, fmt.Errorf("response_format.type %q is not one of text, json_object, json_schema", rf.Type)
		}
	} else if wantsJSONByInstruction(c.System) {
		c.JSON = jsonInstructed
	}
	return c, nil
}

func renderOpenAI(id string) func(c *chat, a answer, filtered bool) []byte {
	return func(c *chat, a answer, filtered bool) []byte {
		finish, content := "stop", any(a.Text)
		switch {
		case filtered:
			finish, content = "content_filter", nil
		case a.Length:
			finish = "length"
		}
		b, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": c.Model,
			"system_fingerprint": "fp_fake",
			"choices":            []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content, "refusal": nil}, "logprobs": nil, "finish_reason": finish}},
			"usage":              map[string]any{"prompt_tokens": a.In, "completion_tokens": a.Out, "total_tokens": a.In + a.Out},
		})
		return b
	}
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (s *Server) openaiChat(w http.ResponseWriter, r *http.Request) {
	s.serveChat(w, r, openaiDialect, "openai.chat", bearer(r), parseOpenAI, renderOpenAI(s.newID("chatcmpl-")))
}

// ------------------------------------------------------------ batch API

func (s *Server) openaiUpload(w http.ResponseWriter, r *http.Request) {
	s.count("openai.files", r, nil)
	d := openaiDialect
	if !s.checkKey(w, d, bearer(r)) {
		return
	}
	if err := r.ParseMultipartForm(64 << 20); err != nil {
		s.badShape(w, d, "the upload must be multipart/form-data: %v", err)
		return
	}
	if p := r.FormValue("purpose"); p != "batch" {
		s.badShape(w, d, "purpose %q: this fake accepts only \"batch\"", p)
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		s.badShape(w, d, "the upload has no file part: %v", err)
		return
	}
	data, _ := io.ReadAll(f)
	f.Close()
	// Validate every line the way the batch validator does.
	for i, line := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		var l struct {
			CustomID string          `json:"custom_id"`
			Method   string          `json:"method"`
			URL      string          `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(line, &l); err != nil || l.CustomID == "" || l.Method != "POST" || l.URL != "/v1/chat/completions" || len(l.Body) == 0 {
			s.badShape(w, d, "line %d of %s is not a batch request line {custom_id, method: POST, url: /v1/chat/completions, body}", i+1, fh.Filename)
			return
		}
	}
	id := s.newID("file-")
	s.mu.Lock()
	s.files[id] = data
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"id": id, "object": "file", "bytes": len(data), "created_at": time.Now().Unix(), "filename": fh.Filename, "purpose": "batch"})
	writeJSON(w, 200, b)
}

func (s *Server) openaiFileContent(w http.ResponseWriter, r *http.Request) {
	s.count("openai.file_content", r, nil)
	if !s.checkKey(w, openaiDialect, bearer(r)) {
		return
	}
	s.mu.Lock()
	data, ok := s.files[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		s.writeError(w, openaiDialect, kindNotFound, "No such File object: "+r.PathValue("id"), 0)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(data)
}

func (s *Server) openaiCreateBatch(w http.ResponseWriter, r *http.Request) {
	body, _ := readBody(r)
	s.count("openai.batches", r, body)
	d := openaiDialect
	if !s.checkKey(w, d, bearer(r)) {
		return
	}
	var q struct {
		InputFileID      string            `json:"input_file_id"`
		Endpoint         string            `json:"endpoint"`
		CompletionWindow string            `json:"completion_window"`
		Metadata         map[string]string `json:"metadata"`
	}
	if err := strictDecode(body, &q); err != nil {
		s.badShape(w, d, "batch creation body: %v", err)
		return
	}
	if q.Endpoint != "/v1/chat/completions" || q.CompletionWindow != "24h" {
		s.badShape(w, d, "endpoint must be /v1/chat/completions and completion_window 24h, got %q and %q", q.Endpoint, q.CompletionWindow)
		return
	}
	s.mu.Lock()
	data, ok := s.files[q.InputFileID]
	s.mu.Unlock()
	if !ok {
		s.badShape(w, d, "input_file_id %q does not exist", q.InputFileID)
		return
	}
	if s.holdSubmission(r) {
		return
	}
	b := &batch{id: s.newID("batch_"), created: time.Now().Unix(), endpoint: q.Endpoint, inputFile: q.InputFileID, total: bytes.Count(bytes.TrimRight(data, "\n"), []byte("\n")) + 1}
	s.mu.Lock()
	s.batches[b.id] = b
	s.mu.Unlock()
	s.addBatch(customIDs(data))
	writeJSON(w, 200, s.openaiBatchJSON(b, "validating"))
}

func (s *Server) openaiBatchJSON(b *batch, status string) []byte {
	nullable := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	out, _ := json.Marshal(map[string]any{
		"id": b.id, "object": "batch", "endpoint": b.endpoint, "errors": nil, "input_file_id": b.inputFile,
		"completion_window": "24h", "status": status, "output_file_id": nullable(b.outputFile), "error_file_id": nullable(b.errorFile),
		"created_at": b.created, "request_counts": map[string]int{"total": b.total, "completed": b.completed, "failed": b.failed},
	})
	return out
}

func (s *Server) openaiGetBatch(w http.ResponseWriter, r *http.Request) {
	s.count("openai.batch_get", r, nil)
	s.batchMu.Lock()
	defer s.batchMu.Unlock()
	d := openaiDialect
	if !s.checkKey(w, d, bearer(r)) {
		return
	}
	s.mu.Lock()
	b, ok := s.batches[r.PathValue("id")]
	if ok {
		b.polls++
	}
	s.mu.Unlock()
	if !ok {
		s.writeError(w, d, kindNotFound, "No batch found with id '"+r.PathValue("id")+"'.", 0)
		return
	}
	if b.polls <= s.opts.BatchPolls {
		writeJSON(w, 200, s.openaiBatchJSON(b, "in_progress"))
		return
	}
	if !b.ended {
		s.runOpenAIBatch(b)
	}
	writeJSON(w, 200, s.openaiBatchJSON(b, "completed"))
}

// runOpenAIBatch answers every line: successes go to the output file,
// failures to the error file, both keyed by custom_id.
func (s *Server) runOpenAIBatch(b *batch) {
	s.mu.Lock()
	data := s.files[b.inputFile]
	s.mu.Unlock()
	var out, errs bytes.Buffer
	for i, line := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		var l struct {
			CustomID string          `json:"custom_id"`
			Body     json.RawMessage `json:"body"`
		}
		_ = json.Unmarshal(line, &l)
		reqID := fmt.Sprintf("req_%d", i)
		write := func(dst *bytes.Buffer, status int, body []byte) {
			rec, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("batch_req_%d", i), "custom_id": l.CustomID, "response": map[string]any{"status_code": status, "request_id": reqID, "body": json.RawMessage(body)}, "error": nil})
			dst.Write(rec)
			dst.WriteByte('\n')
		}
		c, err := parseOpenAI(l.Body)
		if err != nil {
			write(&errs, 400, openaiDialect.errorBody(kindInvalid, 400, err.Error(), 0))
			b.failed++
			continue
		}
		f := Fault("")
		for _, m := range directiveRE.FindAllStringSubmatch(c.lastUser(), -1) {
			if m[1] == "fault" {
				f = Fault(m[2])
			}
		}
		if k, isErr := batchFault(f); isErr {
			st := openaiDialect.status(k)
			write(&errs, st, openaiDialect.errorBody(k, st, "injected failure "+string(f), 0))
			b.failed++
			continue
		}
		write(&out, 200, renderOpenAI(s.newID("chatcmpl-"))(c, s.batchAnswer(c, f), f == FaultContentFilter))
		b.completed++
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if out.Len() > 0 {
		b.outputFile = s.newID("file-")
		s.files[b.outputFile] = out.Bytes()
	}
	if errs.Len() > 0 {
		b.errorFile = s.newID("file-")
		s.files[b.errorFile] = errs.Bytes()
	}
	b.ended = true
}

// customIDs are the custom_id of each line of a batch input file.
func customIDs(data []byte) []string {
	var ids []string
	for _, line := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		var l struct {
			CustomID string `json:"custom_id"`
		}
		_ = json.Unmarshal(line, &l)
		ids = append(ids, l.CustomID)
	}
	return ids
}
