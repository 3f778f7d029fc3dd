package fakeprovider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

var geminiDialect = &dialect{
	name:   "gemini",
	status: defaultStatus,
	errorBody: func(k errKind, status int, msg string, retry time.Duration) []byte {
		st := map[errKind]string{kindInvalid: "INVALID_ARGUMENT", kindAuth: "UNAUTHENTICATED", kindNotFound: "NOT_FOUND", kindRateLimit: "RESOURCE_EXHAUSTED", kindServer: "INTERNAL", kindOverloaded: "UNAVAILABLE"}[k]
		e := map[string]any{"code": status, "message": msg, "status": st}
		if retry > 0 {
			e["details"] = []any{
				map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []any{map[string]any{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}}},
				map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": fmt.Sprintf("%ds", int(retry.Seconds()))},
			}
		}
		b, _ := json.Marshal(map[string]any{"error": e})
		return b
	},
	bareRateHeaders: func(http.Header, time.Duration) {}, // Gemini puts RetryInfo in the body
	malformed:       `{"candidates":[{"content":{"parts":[{"text":"Hal`,
}

type gmPart struct {
	Text string `json:"text"`
}

type gmContent struct {
	Role  string   `json:"role,omitempty"`
	Parts []gmPart `json:"parts"`
}

// gmRequest mirrors GenerateContentRequest; unknown names are rejected as
// the real API does.
type gmRequest struct {
	Contents          []gmContent      `json:"contents"`
	SystemInstruction *gmContent       `json:"systemInstruction"`
	GenerationConfig  *gmGenConfig     `json:"generationConfig"`
	SafetySettings    []map[string]any `json:"safetySettings"`
}

type gmGenConfig struct {
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"topP"`
	TopK               *int            `json:"topK"`
	MaxOutputTokens    *int            `json:"maxOutputTokens"`
	Seed               *int64          `json:"seed"`
	StopSequences      []string        `json:"stopSequences"`
	CandidateCount     *int            `json:"candidateCount"`
	ResponseMimeType   string          `json:"responseMimeType"`
	ResponseSchema     json.RawMessage `json:"responseSchema"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
	ThinkingConfig     map[string]any  `json:"thinkingConfig"`
}

func parseGemini(model string) func(body []byte) (*chat, error) {
	return func(body []byte) (*chat, error) {
		var q gmRequest
		if err := strictDecode(body, &q); err != nil {
			return nil, fmt.Errorf("Invalid JSON payload received. %v", err)
		}
		if len(q.Contents) == 0 {
			return nil, errors.New("* GenerateContentRequest.contents: contents is not specified")
		}
		c := &chat{Model: model}
		if si := q.SystemInstruction; si != nil {
			for _, p := range si.Parts {
				c.System += p.Text
			}
		}
		for i, ct := range q.Contents {
			if ct.Role != "user" && ct.Role != "model" {
				return nil, fmt.Errorf("* GenerateContentRequest.contents[%d].role: must be user or model, got %q", i, ct.Role)
			}
			if len(ct.Parts) == 0 {
				return nil, fmt.Errorf("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty", i)
			}
			text := ""
			for _, p := range ct.Parts {
				text += p.Text
			}
			role := "user"
			if ct.Role == "model" {
				role = "assistant"
			}
			c.Turns = append(c.Turns, turn{role, text})
		}
		if g := q.GenerationConfig; g != nil {
			if g.MaxOutputTokens != nil {
				c.MaxTokens = *g.MaxOutputTokens
			}
			if g.Temperature != nil && (*g.Temperature < 0 || *g.Temperature > 2) {
				return nil, fmt.Errorf("* GenerateContentRequest.generation_config.temperature: %g is out of range [0, 2]", *g.Temperature)
			}
			c.Stop = g.StopSequences
			switch g.ResponseMimeType {
			case "", "text/plain":
				if len(g.ResponseSchema) > 0 || len(g.ResponseJSONSchema) > 0 {
					return nil, errors.New("* GenerateContentRequest.generation_config.response_schema: a schema needs response_mime_type application/json")
				}
			case "application/json":
				c.JSON = jsonStructured
			default:
				return nil, fmt.Errorf("* GenerateContentRequest.generation_config.response_mime_type: unsupported %q", g.ResponseMimeType)
			}
			if len(g.ResponseSchema) > 0 {
				// The OpenAPI subset of responseSchema has no
				// additionalProperties nor $schema.
				if strings.Contains(string(g.ResponseSchema), `"additionalProperties"`) || strings.Contains(string(g.ResponseSchema), `"$schema"`) {
					return nil, errors.New("Invalid JSON payload received. Unknown name \"additionalProperties\" or \"$schema\" at 'generation_config.response_schema'")
				}
			}
		}
		if c.JSON == jsonNone && wantsJSONByInstruction(c.System) {
			c.JSON = jsonInstructed
		}
		return c, nil
	}
}

func renderGemini(id string) func(c *chat, a answer, filtered bool) []byte {
	return func(c *chat, a answer, filtered bool) []byte {
		usage := map[string]any{"promptTokenCount": a.In, "candidatesTokenCount": a.Out, "totalTokenCount": a.In + a.Out}
		var m map[string]any
		if filtered {
			m = map[string]any{"promptFeedback": map[string]any{"blockReason": "SAFETY", "safetyRatings": []any{map[string]any{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}}},
				"usageMetadata": map[string]any{"promptTokenCount": a.In, "totalTokenCount": a.In}, "modelVersion": c.Model, "responseId": id}
		} else {
			finish := "STOP"
			if a.Length {
				finish = "MAX_TOKENS"
			}
			m = map[string]any{
				"candidates":    []any{map[string]any{"content": map[string]any{"parts": []any{map[string]any{"text": a.Text}}, "role": "model"}, "finishReason": finish, "index": 0}},
				"usageMetadata": usage, "modelVersion": c.Model, "responseId": id,
			}
		}
		b, _ := json.Marshal(m)
		return b
	}
}

func (s *Server) geminiGenerate(w http.ResponseWriter, r *http.Request) {
	model, ok := strings.CutSuffix(r.PathValue("call"), ":generateContent")
	if !ok || model == "" {
		_, _ = readBody(r)
		s.count("gemini.other", r, nil)
		s.badShape(w, geminiDialect, "fakeprovider serves only models/{model}:generateContent, not %q", r.URL.Path)
		return
	}
	s.serveChat(w, r, geminiDialect, "gemini.generate", r.Header.Get("x-goog-api-key"), parseGemini(model), renderGemini(s.newID("resp-")))
}
