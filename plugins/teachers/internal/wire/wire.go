// Package wire holds what the teacher plugins for HTTP back ends share: one
// tuned HTTP client (fasthttp, see clients), pooled buffers, one-attempt request execution with a
// per-request timeout, the classification of failures into sdk.CallError
// codes, the parsing of rate-limit headers into a retry delay, scrubbing of
// secrets from anything echoed back, and extraction of a JSON object from
// free text.
//
// It is written on a plain HTTP client rather than the vendors' SDKs because the
// host owns retries, rate limits and budgets: every vendor SDK retries on its
// own and hides the raw status and headers the host needs, and the fast path
// (tens of thousands of calls per cell) should not pay for a generic client.
package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/redact"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpproxy"
)

// The HTTP client is fasthttp rather than net/http: a plugin makes tens of
// thousands of small calls per cell, and net/http's client hands every
// request to a connection's write goroutine and every answer back from its
// read goroutine, which cost a plugin about twice the CPU of the whole
// request otherwise (measured against the fake provider: 40–55 µs per call
// for net/http, 21–28 µs for fasthttp, each in its own process). fasthttp
// writes and reads in the calling goroutine. What it does not do, and what
// a provider client does not need: HTTP/2 (every provider serves HTTP/1.1),
// following redirects (never wanted, see below), retrying (the host owns
// retries; a silent retry could pay twice).

// clients are shared by every generator of every plugin in the process, so
// connections to one provider are reused across teacher blocks and
// streams: one for http URLs and one for https, since a proxy from the
// environment is chosen by scheme (HTTP_PROXY, HTTPS_PROXY, NO_PROXY). A
// proxy is always asked for a CONNECT tunnel, also for http URLs (net/http
// would send those to the proxy as plain requests): a proxy that tunnels
// only to port 443 needs the local server's host in NO_PROXY.
var clients = [2]*fasthttp.Client{newClient(false), newClient(true)}

func newClient(tls bool) *fasthttp.Client {
	c := &fasthttp.Client{
		Name: "polyglot",
		// The host may run hundreds of calls in flight against one host
		// name; when all connections are busy a call waits for one rather
		// than failing at once.
		MaxConnsPerHost:     4096,
		MaxConnWaitTimeout:  30 * time.Second,
		MaxIdleConnDuration: 90 * time.Second,
		ReadBufferSize:      64 << 10,
		WriteBufferSize:     64 << 10,
		MaxResponseBodySize: MaxBody,
		// Header names are sent as the providers document them.
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		// Exactly one attempt per call: retries are the host's.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		// Redirects are not followed (Do, not DoRedirects): an API endpoint
		// that redirects is misconfigured, and following it could send the
		// key to another host.
	}
	if proxyFromEnv() {
		d := fasthttpproxy.Dialer{Timeout: 30 * time.Second, ConnectTimeout: 30 * time.Second}
		dial, err := d.GetDialFuncForTLS(true, tls)
		if err == nil {
			c.Dial = dial
		}
	} else {
		// A connection gets at most 30 s, less when the call's deadline is
		// nearer; a call without a deadline passes 0, which means "none".
		c.DialTimeout = func(addr string, timeout time.Duration) (net.Conn, error) {
			if timeout <= 0 || timeout > 30*time.Second {
				timeout = 30 * time.Second
			}
			return fasthttp.DialTimeout(addr, timeout)
		}
	}
	return c
}

func proxyFromEnv() bool {
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"} {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
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
//
// The attempt's deadline is the earlier of ctx's and Timeout. A context
// cancelled without a deadline stops a call that has not been sent; one in
// flight runs to its deadline (the host cancels calls only when stopping,
// and waits for calls in flight then anyway: they are paid for).
func Do(ctx context.Context, r Request) (*Response, *sdk.CallError) {
	if err := ctx.Err(); err != nil {
		return nil, transportError(ctx, err, r.Timeout, nil)
	}
	deadline, hasDeadline := ctx.Deadline()
	if r.Timeout > 0 {
		if d := time.Now().Add(r.Timeout); !hasDeadline || d.Before(deadline) {
			deadline, hasDeadline = d, true
		}
	}
	a := &attempt{req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse()}
	req := a.req
	req.SetRequestURI(r.URL)
	req.Header.SetMethod(r.Method)
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	ct := r.ContentType
	if ct == "" && r.JSON != nil {
		ct = "application/json"
	}
	if ct != "" {
		req.Header.SetContentType(ct)
	}
	switch {
	case r.Body != nil:
		req.SetBodyRaw(r.Body)
	case r.JSON != nil:
		a.buf = GetBuffer()
		if err := encodeJSON(a.buf, r.JSON, r.Extra); err != nil {
			a.release()
			return nil, &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "encoding the request: " + err.Error()}
		}
		req.SetBodyRaw(a.buf.Bytes())
	}
	c := clients[0]
	if len(r.URL) > 6 && strings.EqualFold(r.URL[:6], "https:") {
		c = clients[1]
	}
	do := func() error {
		if hasDeadline {
			return c.DoDeadline(a.req, a.resp, deadline)
		}
		return c.Do(a.req, a.resp)
	}
	start := time.Now()
	var err error
	if ctx.Done() == nil {
		err = do()
	} else {
		var ok bool
		if ok, err = a.run(ctx, do); !ok {
			// Abandoned: the attempt's goroutine releases it when it ends
			// (at its deadline at the latest).
			return nil, transportError(ctx, err, r.Timeout, nil)
		}
	}
	if err != nil {
		return nil, a.fail(ctx, err, r.Timeout)
	}
	defer a.release()
	resp := a.resp
	buf := GetBuffer()
	buf.Write(resp.Body())
	h := make(http.Header, resp.Header.Len())
	for k, v := range resp.Header.All() {
		h.Add(string(k), string(v))
	}
	return &Response{Status: resp.StatusCode(), Header: h, Body: buf.Bytes(), Latency: time.Since(start), buf: buf}, nil
}

// attempt is one request in flight with what it borrowed from pools.
type attempt struct {
	req   *fasthttp.Request
	resp  *fasthttp.Response
	buf   *bytes.Buffer // the encoded body, which req points into
	state atomic.Int32  // attemptRunning, attemptDone, attemptAbandoned
}

const (
	attemptRunning int32 = iota
	attemptDone
	attemptAbandoned
)

func (a *attempt) release() {
	fasthttp.ReleaseRequest(a.req)
	fasthttp.ReleaseResponse(a.resp)
	if a.buf != nil {
		PutBuffer(a.buf)
	}
}

// run makes the attempt in its own goroutine so that a cancelled ctx
// returns at once: fasthttp takes no context. ok is false when ctx ended
// first; the goroutine then owns the attempt and releases it when done.
func (a *attempt) run(ctx context.Context, do func() error) (bool, error) {
	done := make(chan error, 1)
	runAsync(func() {
		err := do()
		if !a.state.CompareAndSwap(attemptRunning, attemptDone) {
			a.release() // abandoned
			return
		}
		done <- err
	})
	select {
	case err := <-done:
		return true, err
	case <-ctx.Done():
		if a.state.CompareAndSwap(attemptRunning, attemptAbandoned) {
			return false, ctx.Err()
		}
		return true, <-done // it finished just now: use it
	}
}

// runners are idle goroutines that run attempts: reusing them keeps the
// stack each has grown through the HTTP client, where a new goroutine per
// attempt grew one on every call. An idle runner exits after runnerIdle.
var runners = make(chan func())

const runnerIdle = 30 * time.Second

func runAsync(f func()) {
	select {
	case runners <- f:
	default:
		go runner(f)
	}
}

func runner(f func()) {
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(runnerIdle)
		select {
		case f = <-runners:
		case <-idle.C:
			return
		}
	}
}

// fail classifies a failed attempt and releases it.
func (a *attempt) fail(ctx context.Context, err error, timeout time.Duration) *sdk.CallError {
	defer a.release()
	var partial []byte
	if a.resp.Header.ContentLength() != 0 && len(a.resp.Body()) > 0 {
		partial = a.resp.Body()
	}
	ce := transportError(ctx, err, timeout, partial)
	if partial != nil {
		ce.HTTPStatus = a.resp.StatusCode()
	}
	return ce
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

// transportError classifies a failure that produced no complete response:
// ctx is the caller's, timeout the attempt's own limit.
func transportError(ctx context.Context, err error, timeout time.Duration, partial []byte) *sdk.CallError {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return &sdk.CallError{Code: sdk.ErrCancelled, Message: "the call was cancelled"}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &sdk.CallError{Code: sdk.ErrTimeout, Message: "no complete answer within the attempt's time limit (the teacher's limits.timeout); raise it if the model is slow"}
	case isTimeout(err), errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
		if timeout <= 0 {
			return &sdk.CallError{Code: sdk.ErrTimeout, Message: "no complete answer within the attempt's time limit (the teacher's limits.timeout); raise it if the model is slow"}
		}
		return &sdk.CallError{Code: sdk.ErrTimeout, Message: fmt.Sprintf("no complete answer within %s; raise the teacher's limits.timeout if the model is slow", timeout)}
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: fmt.Sprintf("the response body is larger than %d MiB: not a chat completion", MaxBody>>20)}
	case partial != nil && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)):
		return &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "the response body was cut short: " + err.Error(), Raw: Truncate(string(partial))}
	case partial != nil:
		return &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "reading the response body: " + err.Error(), Raw: Truncate(string(partial))}
	}
	if cause := unreachable(err); cause != "" {
		return &sdk.CallError{Code: sdk.ErrUnreachable, Message: cause + ": " + err.Error()}
	}
	return &sdk.CallError{Code: sdk.ErrServer, Message: "could not reach the provider: " + err.Error()}
}

// unreachable names the cause when err says that no call can get through
// until the user acts: nothing listens at the address, the host name does
// not resolve, or TLS cannot be set up (a certificate that does not
// verify, a plain-HTTP server behind an https URL). It returns "" for
// faults that may pass on their own (a reset connection, a timeout).
func unreachable(err error) string {
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is the server running, and is base_url right?)"
	case errors.As(err, &dns) && !dns.IsTimeout && !dns.IsTemporary:
		return "the host name does not resolve (check base_url)"
	case errors.As(err, &cert), errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid):
		return "TLS failure: the server's certificate does not verify"
	case errors.As(err, &record):
		return "TLS failure: the server does not speak TLS (use http:// in base_url?)"
	case errors.As(err, &alert):
		return "TLS failure: the server refused the TLS handshake"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host (check base_url and the network)"
	}
	return ""
}

// LocateErr is Locate for the error of a plugin's Generate: a CallError
// that is about the set-up gets the endpoint, scrubbed like the rest.
func LocateErr(err error, method, rawURL string, s Scrubber) error {
	var ce *sdk.CallError
	if errors.As(err, &ce) && ce.Code.TeacherLevel() {
		s.Error(Locate(ce, method, rawURL))
	}
	return err
}

// Locate adds where a call went to an error that says the teacher's set-up
// is wrong (key, model, URL): the user has to see which endpoint to fix.
// The URL is shown without credentials or query.
func Locate(ce *sdk.CallError, method, rawURL string) *sdk.CallError {
	if ce == nil || !ce.Code.TeacherLevel() {
		return ce
	}
	if u, err := url.Parse(rawURL); err == nil {
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		rawURL = u.String()
	}
	ce.Message += " [" + method + " " + rawURL + "]"
	return ce
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
	case status == http.StatusNotFound:
		ce.Code = sdk.ErrNotFound
		ce.Message = msg + " (check the teacher's model name and base_url; a local server may need the model pulled first)"
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
//
// Whatever a header says is clamped to [0, MaxRetryAfter]: the host refuses
// waits beyond the teacher's limits.max_retry_wait with an error, and a
// huge number must not overflow into a negative wait on the way.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	return min(retryAfter(h, now), MaxRetryAfter)
}

// MaxRetryAfter bounds the wait RetryAfter reports (a year).
const MaxRetryAfter = 366 * 24 * time.Hour

// seconds converts a header's number of seconds (or milliseconds, with
// unit) to a duration, or false when it is not a number of zero or more.
func seconds(v string, unit time.Duration) (time.Duration, bool) {
	x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(x) || x < 0 {
		return 0, false
	}
	if x*float64(unit) >= float64(MaxRetryAfter) { // +Inf included
		return MaxRetryAfter, true
	}
	return time.Duration(x * float64(unit)), true
}

func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if d, ok := seconds(v, time.Millisecond); ok {
			return d
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if d, ok := seconds(v, time.Second); ok {
			return d
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
	if d, ok := seconds(v, time.Second); ok {
		return d, nil
	}
	return 0, fmt.Errorf("%q is not a duration", v)
}

// Scrubber removes secrets from text echoed back to the host. Providers
// sometimes quote the key they rejected, and transport errors can quote
// URLs; nothing a teacher returns may contain the key, in any encoding
// (sdk/redact: as sent, JSON-escaped, URL-encoded, base64). The host
// redacts again at its own choke point; this keeps the key out of the
// plugin's own logs too.
type Scrubber struct{ set *redact.Set }

// NewScrubber scrubs the given secrets; empty ones and very short ones
// (which would mangle ordinary text, see redact.MinLen) are ignored.
func NewScrubber(secrets ...string) Scrubber { return Scrubber{redact.New(secrets...)} }

// String replaces every secret in s.
func (s Scrubber) String(in string) string { return s.set.String(in) }

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
