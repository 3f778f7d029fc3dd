package sdk

import (
	"fmt"
	"time"
)

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Sampling holds the decoding parameters of a call. Nil pointers mean "the
// server's default".
type Sampling struct {
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	TopK        *int     `json:"top_k,omitempty"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
	Stop        []string `json:"stop,omitempty"`
}

// OutputFormat says what a call must return.
type OutputFormat struct {
	JSON bool `json:"json,omitempty"`
	// JSONSchema is the schema of the expected object when JSON is set; empty
	// means "any JSON object".
	JSONSchema string `json:"json_schema,omitempty"`
}

// Call is one request to a teacher.
type Call struct {
	ID       string       `json:"id"`
	Messages []Message    `json:"messages"`
	Sampling Sampling     `json:"sampling"`
	Output   OutputFormat `json:"output"`
	// Metadata says where the call comes from: "strategy", "step",
	// "language", "seed_id", "cell". Replay teachers depend on it.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Timeout is the attempt's time limit, which the host sets from the
	// teacher's limits.timeout (the one per-attempt timeout). The SDK's
	// server gives Generate a context that ends when it passes; 0 = none.
	Timeout time.Duration `json:"-"`
}

// Usage counts the tokens a call consumed, as the provider reports them.
type Usage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Result is a teacher's answer to one Call. Exactly one of Text (with
// FinishReason) or Err is meaningful.
type Result struct {
	ID           string        `json:"id"`
	Text         string        `json:"text"`
	FinishReason string        `json:"finish_reason"`
	Usage        Usage         `json:"usage"`
	Latency      time.Duration `json:"latency"`
	Model        string        `json:"model,omitempty"`
	Err          *CallError    `json:"error,omitempty"`
}

// ErrorCode classifies a failed call so that the host can decide between
// retrying, backing off and giving up, the same way for every provider.
type ErrorCode int

const (
	ErrUnknown ErrorCode = iota
	ErrRateLimited
	ErrServer
	ErrTimeout
	ErrInvalidRequest
	ErrAuth
	ErrMalformedResponse
	ErrCancelled
	ErrContentFiltered
	// ErrUnreachable: the provider could not be reached at all (connection
	// refused, DNS or TLS failure). Retried briefly; a few in a row stop
	// the teacher, since no call will get through until the user acts.
	ErrUnreachable
	// ErrNotFound: the provider answered 404, the model or the endpoint
	// does not exist. Final for the call; a few in a row stop the teacher.
	ErrNotFound
)

var errorCodeNames = [...]string{"unknown", "rate_limited", "server", "timeout", "invalid_request", "auth", "malformed_response", "cancelled", "content_filtered", "unreachable", "not_found"}

func (c ErrorCode) String() string {
	if int(c) >= 0 && int(c) < len(errorCodeNames) {
		return errorCodeNames[c]
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// Retryable reports whether the same call may succeed if sent again.
func (c ErrorCode) Retryable() bool {
	switch c {
	case ErrRateLimited, ErrServer, ErrTimeout, ErrMalformedResponse, ErrUnknown, ErrUnreachable:
		return true
	}
	return false
}

// TeacherLevel reports whether the error says something about the
// teacher's configuration or back end as a whole (its key, model, URL)
// rather than about one call: such errors repeat for every call until the
// user fixes the cause.
func (c ErrorCode) TeacherLevel() bool {
	switch c {
	case ErrAuth, ErrNotFound, ErrUnreachable:
		return true
	}
	return false
}

// CallError is a failed call. Teachers return it (or any error, which counts
// as ErrUnknown) from Generate.
type CallError struct {
	Code       ErrorCode     `json:"code"`
	Message    string        `json:"message"`
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	HTTPStatus int           `json:"http_status,omitempty"`
	// Raw is the response body as received (truncated), kept for the
	// failure record.
	Raw string `json:"raw,omitempty"`
}

func (e *CallError) Error() string {
	if e.HTTPStatus != 0 {
		return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.HTTPStatus, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Example is one generated (prompt, response) pair as a metric sees it.
type Example struct {
	ID       string `json:"id"`
	Prompt   string `json:"prompt"`
	Response string `json:"response"`
	Language string `json:"language"`
	Strategy string `json:"strategy"`
	Teacher  string `json:"teacher"`
}

// ExampleValue is a metric's values for one example.
type ExampleValue struct {
	ID     string             `json:"id"`
	Values map[string]float64 `json:"values"`
	Note   string             `json:"note,omitempty"`
}

// Aggregate is a metric's result for a whole cell. Values["value"] is the
// number that enters the score; the other keys are reported.
type Aggregate struct {
	Values  map[string]float64 `json:"values"`
	Details any                `json:"details,omitempty"`
}

// Progress reports how far a long call is.
type Progress struct {
	Done, Total float64
	Stage       string
	Message     string
}
