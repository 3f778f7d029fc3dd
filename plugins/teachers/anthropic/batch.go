package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/wire"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// Anthropic custom_ids must match ^[a-zA-Z0-9_-]{1,64}$. The first
// character says whether the call wants JSON (PollBatch gets nothing but
// the batch id) and how the ID is written: lower case j/t for the ID as is,
// upper case J/T for its base64url form when it has other characters.
var plainID = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)

func customID(c *sdk.Call) (string, error) {
	flag := byte('t')
	if c.Output.JSON {
		flag = 'j'
	}
	if plainID.MatchString(c.ID) {
		return string(flag) + c.ID, nil
	}
	enc := base64.RawURLEncoding.EncodeToString([]byte(c.ID))
	if len(enc) > 63 {
		return "", &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: fmt.Sprintf("call ID %q is too long for an Anthropic batch custom_id (at most 47 bytes, or 63 of [A-Za-z0-9_-])", c.ID)}
	}
	return string(flag-'a'+'A') + enc, nil
}

func parseCustomID(s string) (id string, wantJSON bool, ok bool) {
	if len(s) < 2 {
		return s, false, false
	}
	switch s[0] {
	case 'j', 't':
		return s[1:], s[0] == 'j', true
	case 'J', 'T':
		b, err := base64.RawURLEncoding.DecodeString(s[1:])
		if err != nil {
			return s, false, false
		}
		return string(b), s[0] == 'J', true
	}
	return s, false, false
}

type batchRequest struct {
	CustomID string      `json:"custom_id"`
	Params   *msgRequest `json:"params"`
}

type messageBatch struct {
	ID               string `json:"id"`
	ProcessingStatus string `json:"processing_status"`
	ResultsURL       string `json:"results_url"`
	RequestCounts    struct {
		Processing, Succeeded, Errored, Canceled, Expired int
	} `json:"request_counts"`
}

func (g *generator) batchTimeout() time.Duration { return 5 * time.Minute }

// SubmitBatch creates a Message Batch.
func (g *generator) SubmitBatch(ctx context.Context, calls []*sdk.Call) (string, error) {
	if len(calls) == 0 {
		return "", &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "a batch needs at least one call"}
	}
	reqs := make([]batchRequest, len(calls))
	seen := make(map[string]bool, len(calls))
	for i, c := range calls {
		if c.ID == "" || seen[c.ID] {
			return "", &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: fmt.Sprintf("call %d: batch calls need unique, non-empty IDs (got %q)", i, c.ID)}
		}
		seen[c.ID] = true
		id, err := customID(c)
		if err != nil {
			return "", err
		}
		p, err := g.request(c)
		if err != nil {
			return "", fmt.Errorf("call %q: %w", c.ID, err)
		}
		reqs[i] = batchRequest{CustomID: id, Params: p}
	}
	var b messageBatch
	if err := g.call(ctx, http.MethodPost, g.cfg.BaseURL+"/v1/messages/batches", map[string]any{"requests": reqs}, &b); err != nil {
		return "", fmt.Errorf("creating the message batch: %w", err)
	}
	if b.ID == "" {
		return "", &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "the message batch was created without an id"}
	}
	return b.ID, nil
}

// PollBatch reports the batch's status and, once it has ended, its results.
func (g *generator) PollBatch(ctx context.Context, batchID string) (string, []*sdk.Result, error) {
	var b messageBatch
	if err := g.call(ctx, http.MethodGet, g.cfg.BaseURL+"/v1/messages/batches/"+url.PathEscape(batchID), nil, &b); err != nil {
		return "", nil, fmt.Errorf("polling message batch %s: %w", batchID, err)
	}
	switch b.ProcessingStatus {
	case "in_progress", "canceling":
		return "running", nil, nil
	case "ended":
	default:
		return "", nil, &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: fmt.Sprintf("message batch %s has unknown processing_status %q", batchID, b.ProcessingStatus)}
	}
	results, err := g.results(ctx, batchID, b.ResultsURL)
	if err != nil {
		return "", nil, err
	}
	status := "done"
	rc := b.RequestCounts
	if rc.Expired > 0 && rc.Succeeded == 0 && rc.Errored == 0 {
		status = "expired"
	}
	return status, results, nil
}

// results downloads the results JSONL. The key is only ever sent to the
// configured host: a results_url elsewhere is replaced by the documented
// path under base_url.
func (g *generator) results(ctx context.Context, batchID, resultsURL string) ([]*sdk.Result, error) {
	u := g.cfg.BaseURL + "/v1/messages/batches/" + url.PathEscape(batchID) + "/results"
	if ru, err := url.Parse(resultsURL); err == nil && resultsURL != "" {
		if bu, err := url.Parse(g.cfg.BaseURL); err == nil && ru.Scheme == bu.Scheme && ru.Host == bu.Host {
			u = resultsURL
		}
	}
	resp, ce := wire.Do(ctx, wire.Request{Method: http.MethodGet, URL: u, Header: g.header, Timeout: g.batchTimeout()})
	if ce != nil {
		return nil, fmt.Errorf("downloading batch results: %w", g.scrub.Error(ce))
	}
	defer resp.Release()
	if resp.Status != http.StatusOK {
		return nil, fmt.Errorf("downloading batch results: %w", g.statusError(resp.Status, resp.Header, resp.Body))
	}
	var out []*sdk.Result
	sc := bufio.NewScanner(bytes.NewReader(resp.Body))
	sc.Buffer(make([]byte, 0, 64<<10), wire.MaxBody)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l struct {
			CustomID string `json:"custom_id"`
			Result   struct {
				Type    string          `json:"type"`
				Message json.RawMessage `json:"message"`
				Error   apiError        `json:"error"`
			} `json:"result"`
		}
		if err := wire.Unmarshal(line, &l); err != nil || l.CustomID == "" {
			return nil, fmt.Errorf("batch results line %d: %w", n, g.scrub.Error(wire.Malformed(line, fmt.Errorf("no custom_id or bad JSON"))))
		}
		id, wantJSON, _ := parseCustomID(l.CustomID)
		r := &sdk.Result{ID: id}
		switch l.Result.Type {
		case "succeeded":
			dr, err := g.decode(l.Result.Message, wantJSON)
			if dr != nil {
				r = dr
				r.ID = id
			}
			if err != nil {
				r.Err = err.(*sdk.CallError)
			}
		case "errored":
			e := l.Result.Error.Error
			r.Err = g.scrub.Error(&sdk.CallError{Code: codeForType(e.Type), Message: e.Type + ": " + e.Message, Raw: wire.Truncate(string(line))})
		case "canceled":
			r.Err = &sdk.CallError{Code: sdk.ErrCancelled, Message: "the batch was canceled before this request ran"}
		case "expired":
			r.Err = &sdk.CallError{Code: sdk.ErrTimeout, Message: "the batch expired before this request ran"}
		default:
			r.Err = g.scrub.Error(&sdk.CallError{Code: sdk.ErrMalformedResponse, Message: fmt.Sprintf("unknown result type %q", l.Result.Type), Raw: wire.Truncate(string(line))})
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading batch results: %w", err)
	}
	return out, nil
}

func (g *generator) call(ctx context.Context, method, u string, body any, out any) error {
	resp, ce := wire.Do(ctx, wire.Request{Method: method, URL: u, Header: g.header, JSON: body, Timeout: g.batchTimeout()})
	if ce != nil {
		return g.scrub.Error(ce)
	}
	defer resp.Release()
	if resp.Status < 200 || resp.Status > 299 {
		return g.statusError(resp.Status, resp.Header, resp.Body)
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return g.scrub.Error(wire.Malformed(resp.Body, err))
	}
	return nil
}
