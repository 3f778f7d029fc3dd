package fakeprovider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

var cohereDialect = &dialect{
	name:   "cohere",
	status: defaultStatus,
	errorBody: func(k errKind, status int, msg string, _ time.Duration) []byte {
		b, _ := json.Marshal(map[string]any{"id": "fake-error", "message": msg})
		return b
	},
	bareRateHeaders: func(http.Header, time.Duration) {},
	malformed:       `{"id":"x","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Hal`,
}

type coMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// coRequest mirrors the v2 chat request; unknown fields are rejected (the
// v2 API uses p and k, not top_p and top_k).
type coRequest struct {
	Model            string      `json:"model"`
	Messages         []coMessage `json:"messages"`
	Stream           bool        `json:"stream"`
	MaxTokens        *int        `json:"max_tokens"`
	StopSequences    []string    `json:"stop_sequences"`
	Temperature      *float64    `json:"temperature"`
	Seed             *int64      `json:"seed"`
	FrequencyPenalty *float64    `json:"frequency_penalty"`
	PresencePenalty  *float64    `json:"presence_penalty"`
	K                *int        `json:"k"`
	P                *float64    `json:"p"`
	SafetyMode       string      `json:"safety_mode"`
	ResponseFormat   *struct {
		Type       string          `json:"type"`
		JSONSchema json.RawMessage `json:"json_schema"`
	} `json:"response_format"`
}

func parseCohere(body []byte) (*chat, error) {
	var q coRequest
	if err := strictDecode(body, &q); err != nil {
		return nil, fmt.Errorf("invalid request: %v", err)
	}
	if q.Model == "" {
		return nil, errors.New("invalid request: model must be specified")
	}
	if len(q.Messages) == 0 {
		return nil, errors.New("invalid request: messages must not be empty")
	}
	if q.Stream {
		return nil, errors.New("fakeprovider: streaming is not used by polyglot")
	}
	if q.P != nil && (*q.P < 0.01 || *q.P > 0.99) {
		return nil, fmt.Errorf("invalid request: p must be between 0.01 and 0.99, got %g", *q.P)
	}
	if q.K != nil && (*q.K < 0 || *q.K > 500) {
		return nil, fmt.Errorf("invalid request: k must be between 0 and 500, got %d", *q.K)
	}
	c := &chat{Model: q.Model, Stop: q.StopSequences}
	if q.MaxTokens != nil {
		c.MaxTokens = *q.MaxTokens
	}
	for i, m := range q.Messages {
		var text string
		if err := json.Unmarshal(m.Content, &text); err != nil {
			return nil, fmt.Errorf("invalid request: messages[%d].content must be a string here", i)
		}
		switch m.Role {
		case "system":
			c.System += text
		case "user", "assistant":
			c.Turns = append(c.Turns, turn{m.Role, text})
		default:
			return nil, fmt.Errorf("invalid request: messages[%d].role %q is not one of system, user, assistant", i, m.Role)
		}
	}
	if rf := q.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text":
		case "json_object":
			if len(rf.JSONSchema) > 0 {
				var obj map[string]any
				if json.Unmarshal(rf.JSONSchema, &obj) != nil {
					return nil, errors.New("invalid request: response_format.json_schema must be an object")
				}
			}
			c.JSON = jsonStructured
		default:
			return nil, fmt.Errorf("invalid request: response_format.type %q is not text or json_object", rf.Type)
		}
	} else if wantsJSONByInstruction(c.System) {
		c.JSON = jsonInstructed
	}
	return c, nil
}

func renderCohere(id string) func(c *chat, a answer, filtered bool) []byte {
	return func(c *chat, a answer, _ bool) []byte {
		finish := "COMPLETE"
		if a.Length {
			finish = "MAX_TOKENS"
		}
		b, _ := json.Marshal(map[string]any{
			"id": id, "finish_reason": finish,
			"message": map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": a.Text}}},
			"usage": map[string]any{
				"billed_units": map[string]any{"input_tokens": a.In, "output_tokens": a.Out},
				// The prompt template adds tokens that are not billed.
				"tokens": map[string]any{"input_tokens": a.In + 5, "output_tokens": a.Out},
			},
		})
		return b
	}
}

func (s *Server) cohereChat(w http.ResponseWriter, r *http.Request) {
	s.serveChat(w, r, cohereDialect, "cohere.chat", bearer(r), parseCohere, renderCohere(s.newID("co-")))
}
