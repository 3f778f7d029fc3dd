// Package wire holds what the teacher plugins for HTTP back ends share: one
// tuned http.Transport, pooled buffers, one-attempt request execution with a
// per-request timeout, the classification of failures into sdk.CallError
// codes, the parsing of rate-limit headers into a retry delay, scrubbing of
// secrets from anything echoed back, and extraction of a JSON object from
// free text.
//
// It is written on plain net/http rather than the vendors' SDKs because the
// host owns retries, rate limits and budgets: every vendor SDK retries on its
// own and hides the raw status and headers the host needs, and the fast path
// (tens of thousands of calls per cell) should not pay for a generic client.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Transport is shared by every generator of every plugin in the process, so
// connections to one provider are reused across teacher blocks and streams.
// The host may run hundreds of calls in flight against one host name, so the
// per-host idle pool is sized for that instead of net/http's default of 2.
var Transport = &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	ForceAttemptHTTP2:     true,
	MaxIdleConns:          4096,
	MaxIdleConnsPerHost:   1024,
	IdleConnTimeout:       90 * time.Second,
	TLSHandshakeTimeout:   15 * time.Second,
	ExpectContinueTimeout: time.Second,
	// Large JSON request bodies go out in one write.
	WriteBufferSize: 64 << 10,
	ReadBufferSize:  64 << 10,
}

// Client uses Transport. It has no overall timeout: each request carries its
// own through its context (Do), so a hanging connection fails as ErrTimeout.
// Redirects are not followed: an API endpoint that redirects is misconfigured
// and following it could send the key to another host.
var Client = &http.Client{
	Transport: Transport,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// MaxBody caps a response body; a provider answer larger than this is not a
// chat completion.
const MaxBody = 64 << 20

// MaxRaw is how much of a body a CallError keeps.
const MaxRaw = 4 << 10

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// GetBuffer returns an empty pooled buffer; give it back with PutBuffer.
func GetBuffer() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

// PutBuffer returns a buffer to the pool. Very large buffers are dropped so
// that one huge answer does not pin memory forever.
func PutBuffer(b *bytes.Buffer) {
	if b == nil || b.Cap() > 4<<20 {
		return
	}
	bufPool.Put(b)
}

// Request is one HTTP attempt.
type Request struct {
	Method string
	URL    string
	// Header is sent as is; callers build it once per generator (with
	// Content-Type: application/json, see Common.Header) and share it
	// read-only between calls. It is never modified.
	Header http.Header
	// JSON is encoded as the body when Body is nil.
	JSON any
	// Extra is spliced into the top-level JSON object after encoding JSON
	// (the inside of an object, without braces, e.g. `"top_k":5`). Keys in
	// Extra come last, so servers that keep the last duplicate let them win.
	Extra []byte
	// Body is sent as is with ContentType (multipart uploads).
	Body        []byte
	ContentType string
	// Timeout bounds the whole attempt, body included; 0 means only ctx.
	Timeout time.Duration
}

// Response is a received answer. Body is valid until Release.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Latency time.Duration
	buf     *bytes.Buffer
}

// Release returns the body buffer to the pool.
func (r *Response) Release() {
	if r != nil && r.buf != nil {
		PutBuffer(r.buf)
		r.buf, r.Body = nil, nil
	}
}

// Do makes exactly one attempt and reads the whole body. A transport-level
// failure (refused connection, timeout, cancellation, a body cut short)
// comes back as a CallError; any HTTP status, including errors, comes back
// as a Response for the caller to classify with StatusError.
func Do(ctx context.Context, r Request) (*Response, *sdk.CallError) {
	parent := ctx
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	var body io.Reader
	var reqBuf *bytes.Buffer
	switch {
	case r.Body != nil:
		body = bytes.NewReader(r.Body)
	case r.JSON != nil:
		reqBuf = GetBuffer()
		defer PutBuffer(reqBuf)
		if err := encodeJSON(reqBuf, r.JSON, r.Extra); err != nil {
			return nil, &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "encoding the request: " + err.Error()}
		}
		body = bytes.NewReader(reqBuf.Bytes())
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "building the request: " + err.Error()}
	}
	// The shared header is used as is when it already says what the body
	// is: net/http only reads it, and a clone per call costs more than the
	// rest of the request building.
	ct := r.ContentType
	if ct == "" && r.JSON != nil {
		ct = "application/json"
	}
	switch {
	case r.Header == nil:
		req.Header = http.Header{}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
	case ct == "" || r.Header.Get("Content-Type") == ct:
		req.Header = r.Header
	default:
		req.Header = r.Header.Clone()
		req.Header.Set("Content-Type", ct)
	}
	start := time.Now()
	resp, err := Client.Do(req)
	if err != nil {
		return nil, transportError(parent, ctx, err, r.Timeout, nil)
	}
	defer resp.Body.Close()
	buf := GetBuffer()
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		ce := transportError(parent, ctx, err, r.Timeout, buf.Bytes())
		ce.HTTPStatus = resp.StatusCode
		PutBuffer(buf)
		return nil, ce
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: buf.Bytes(), Latency: time.Since(start), buf: buf}, nil
}

// encodeJSON writes v and splices extra into the top-level object.
func encodeJSON(buf *bytes.Buffer, v any, extra []byte) error {
	if a, ok := v.(AppendJSON); ok {
		b, err := a.AppendJSON(buf.AvailableBuffer())
		if err != nil {
			return err
		}
		buf.Write(b)
	} else {
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	if len(extra) == 0 {
		return nil
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	if len(b) < 2 || b[len(b)-1] != '}' {
		return errors.New("extra fields need a JSON object body")
	}
	buf.Truncate(len(b) - 1)
	if len(b) > 2 { // not "{}"
		buf.WriteByte(',')
	}
	buf.Write(extra)
	buf.WriteByte('}')
	return nil
}

// transportError classifies a failure that produced no complete response.
func transportError(parent, ctx context.Context, err error, timeout time.Duration, partial []byte) *sdk.CallError {
	switch {
	case errors.Is(parent.Err(), context.Canceled):
		return &sdk.CallError{Code: sdk.ErrCancelled, Message: "the call was cancelled"}
	case errors.Is(parent.Err(), context.DeadlineExceeded):
		return &sdk.CallError{Code: sdk.ErrTimeout, Message: "the call's deadline passed before the provider answered"}
	case errors.Is(ctx.Err(), context.DeadlineExceeded), isTimeout(err):
		return &sdk.CallError{Code: sdk.ErrTimeout, Message: fmt.Sprintf("no complete answer within the per-request timeout (%s); raise `timeout` in the teacher's config if the model is slow", timeout)}
	case partial != nil && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)):
		return &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "the response body was cut short: " + err.Error(), Raw: Truncate(string(partial))}
	case partial != nil:
		return &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "reading the response body: " + err.Error(), Raw: Truncate(string(partial))}
	}
	return &sdk.CallError{Code: sdk.ErrServer, Message: "could not reach the provider: " + err.Error()}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Truncate cuts s to MaxRaw bytes on a rune boundary and replaces invalid
// UTF-8 (a body cut mid-character), which protobuf refuses to marshal: one
// such string would take down the whole Generate stream.
func Truncate(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxRaw {
		return s
	}
	cut := MaxRaw
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[truncated]"
}

// StatusError classifies a non-2xx answer. msg is the provider's own error
// message (parsed by the caller from its error body; "" uses the status
// text); providerType is the provider's error type or status string, which
// refines the code (e.g. a 400 that is a content filter).
func StatusError(status int, h http.Header, body []byte, msg string, now time.Time) *sdk.CallError {
	if msg == "" {
		msg = http.StatusText(status)
		if msg == "" {
			msg = "unexpected HTTP status"
		}
	}
	ce := &sdk.CallError{HTTPStatus: status, Message: msg, Raw: Truncate(string(body))}
	switch {
	case status == http.StatusTooManyRequests:
		ce.Code = sdk.ErrRateLimited
		ce.RetryAfter = RetryAfter(h, now)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		ce.Code = sdk.ErrAuth
		ce.Message = msg + " (check the teacher's api_key)"
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		ce.Code = sdk.ErrTimeout
	case status >= 500: // 529 "overloaded" included
		ce.Code = sdk.ErrServer
		ce.RetryAfter = RetryAfter(h, now)
	case status >= 400:
		ce.Code = sdk.ErrInvalidRequest
	default:
		ce.Code = sdk.ErrUnknown
	}
	return ce
}

// RetryAfter reads how long to wait from a response's headers, or 0 when
// they do not say. A standard Retry-After (seconds or HTTP-date) or
// retry-after-ms wins; otherwise the provider reset headers are used:
// OpenAI's x-ratelimit-reset-{requests,tokens} (Go-style durations such as
// "6m0s", "1s", "20ms") and Anthropic's anthropic-ratelimit-*-reset
// (RFC 3339 instants). Of several resets, those of an exhausted limit
// (remaining 0) count; if none is known to be exhausted, the longest wait is
// taken, since waiting too little only earns another 429.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			return time.Duration(s * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	var exhausted, longest time.Duration
	consider := func(d time.Duration, remaining string) {
		if d < 0 {
			d = 0
		}
		longest = max(longest, d)
		if strings.TrimSpace(remaining) == "0" {
			exhausted = max(exhausted, d)
		}
	}
	for _, kind := range [...]string{"requests", "tokens"} {
		if v := h.Get("X-Ratelimit-Reset-" + kind); v != "" {
			if d, err := parseResetDuration(v); err == nil {
				consider(d, h.Get("X-Ratelimit-Remaining-"+kind))
			}
		}
	}
	for _, kind := range [...]string{"requests", "tokens", "input-tokens", "output-tokens"} {
		if v := h.Get("Anthropic-Ratelimit-" + kind + "-Reset"); v != "" {
			if t, err := time.Parse(time.RFC3339, strings.TrimSpace(v)); err == nil {
				consider(t.Sub(now), h.Get("Anthropic-Ratelimit-"+kind+"-Remaining"))
			}
		}
	}
	if exhausted > 0 {
		return exhausted
	}
	return longest
}

// parseResetDuration reads "6m0s", "1s", "20ms", "1h2m3.5s" and, as some
// compatible servers send, a bare number of seconds.
func parseResetDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if d, err := time.ParseDuration(v); err == nil {
		return d, nil
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(s * float64(time.Second)), nil
}

// Scrubber removes secrets from text echoed back to the host. Providers
// sometimes quote the key they rejected, and transport errors can quote
// URLs; nothing a teacher returns may contain the key.
type Scrubber struct{ secrets []string }

// NewScrubber scrubs the given secrets; empty ones and very short ones
// (which would mangle ordinary text) are ignored.
func NewScrubber(secrets ...string) Scrubber {
	var s Scrubber
	for _, x := range secrets {
		if len(x) >= 4 {
			s.secrets = append(s.secrets, x)
		}
	}
	return s
}

// String replaces every secret in s.
func (s Scrubber) String(in string) string {
	for _, x := range s.secrets {
		if strings.Contains(in, x) {
			in = strings.ReplaceAll(in, x, "[REDACTED]")
		}
	}
	return in
}

// Error scrubs a CallError in place and returns it.
func (s Scrubber) Error(ce *sdk.CallError) *sdk.CallError {
	if ce != nil {
		ce.Message = strings.ToValidUTF8(s.String(ce.Message), "\uFFFD")
		ce.Raw = strings.ToValidUTF8(s.String(ce.Raw), "\uFFFD")
	}
	return ce
}

// Malformed is the error for a 2xx body that does not parse.
func Malformed(body []byte, err error) *sdk.CallError {
	return &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "the provider's answer is not the expected JSON: " + err.Error(), Raw: Truncate(string(body))}
}
