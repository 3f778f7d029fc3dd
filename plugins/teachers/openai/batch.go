package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/wire"
	"github.com/polyglot-teachers/polyglot/sdk"
)

var log = wire.Logger(Name)

// batchTimeout bounds the Batch API's control requests; an upload of a
// large JSONL file needs longer than a chat call.
func (g *generator) batchTimeout() time.Duration { return 5 * time.Minute }

// SubmitBatch uploads the calls as a JSONL file and creates a batch; the
// batch id is all PollBatch needs, so polling survives a restart.
func (g *generator) SubmitBatch(ctx context.Context, calls []*sdk.Call) (string, error) {
	if len(calls) == 0 {
		return "", &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "a batch needs at least one call"}
	}
	seen := make(map[string]bool, len(calls))
	var jsonl bytes.Buffer
	body := wire.GetBuffer()
	defer wire.PutBuffer(body)
	for i, c := range calls {
		if c.ID == "" || seen[c.ID] {
			return "", &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: fmt.Sprintf("call %d: batch calls need unique, non-empty IDs (got %q)", i, c.ID)}
		}
		seen[c.ID] = true
		if err := checkCall(c); err != nil {
			return "", err
		}
		body.Reset()
		enc := json.NewEncoder(body)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(g.request(c)); err != nil {
			return "", &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: fmt.Sprintf("call %q: %v", c.ID, err)}
		}
		b := bytes.TrimRight(body.Bytes(), "\n")
		if len(g.cfg.extra) > 0 {
			b = append(append(append(b[:len(b)-1:len(b)-1], ','), g.cfg.extra...), '}')
		}
		id, _ := json.Marshal(customID(c))
		jsonl.WriteString(`{"custom_id":`)
		jsonl.Write(id)
		jsonl.WriteString(`,"method":"POST","url":"/v1/chat/completions","body":`)
		jsonl.Write(b)
		jsonl.WriteString("}\n")
	}

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("purpose", "batch")
	ph := make(textproto.MIMEHeader)
	ph.Set("Content-Disposition", `form-data; name="file"; filename="polyglot-batch.jsonl"`)
	ph.Set("Content-Type", "application/jsonl")
	pw, _ := mw.CreatePart(ph)
	_, _ = pw.Write(jsonl.Bytes())
	_ = mw.Close()

	var file struct {
		ID string `json:"id"`
	}
	if err := g.call(ctx, http.MethodPost, g.cfg.BaseURL+"/files", wire.Request{Body: form.Bytes(), ContentType: mw.FormDataContentType()}, &file); err != nil {
		return "", fmt.Errorf("uploading the batch file: %w", err)
	}
	var b struct {
		ID string `json:"id"`
	}
	create := map[string]any{"input_file_id": file.ID, "endpoint": "/v1/chat/completions", "completion_window": g.cfg.window}
	if err := g.call(ctx, http.MethodPost, g.cfg.BaseURL+"/batches", wire.Request{JSON: create}, &b); err != nil {
		return "", fmt.Errorf("creating the batch: %w", err)
	}
	if b.ID == "" {
		return "", &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "the batch was created without an id"}
	}
	return b.ID, nil
}

type batchObject struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	OutputFileID string `json:"output_file_id"`
	ErrorFileID  string `json:"error_file_id"`
	Errors       *struct {
		Data []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Line    *int   `json:"line"`
		} `json:"data"`
	} `json:"errors"`
}

// PollBatch reports the batch's status and, once it has ended, one result
// per line of its output and error files.
func (g *generator) PollBatch(ctx context.Context, batchID string) (string, []*sdk.Result, error) {
	var b batchObject
	if err := g.call(ctx, http.MethodGet, g.cfg.BaseURL+"/batches/"+url.PathEscape(batchID), wire.Request{}, &b); err != nil {
		return "", nil, fmt.Errorf("polling batch %s: %w", batchID, err)
	}
	var status string
	switch b.Status {
	case "validating", "in_progress", "finalizing", "cancelling":
		return "running", nil, nil
	case "completed":
		status = "done"
	case "expired":
		status = "expired"
	case "failed", "cancelled":
		status = "failed"
	default:
		return "", nil, &sdk.CallError{Code: sdk.ErrMalformedResponse, Message: fmt.Sprintf("batch %s has unknown status %q", batchID, b.Status)}
	}
	if b.Errors != nil {
		for _, e := range b.Errors.Data {
			log.Warn().Str("batch", batchID).Str("code", e.Code).Msg(g.scrub.String(e.Message))
		}
	}
	var results []*sdk.Result
	for _, fileID := range []string{b.OutputFileID, b.ErrorFileID} {
		if fileID == "" {
			continue
		}
		rs, err := g.fileResults(ctx, fileID)
		if err != nil {
			return "", nil, err
		}
		results = append(results, rs...)
	}
	return status, results, nil
}

// fileResults downloads an output or error file and decodes its lines.
func (g *generator) fileResults(ctx context.Context, fileID string) ([]*sdk.Result, error) {
	resp, ce := wire.Do(ctx, wire.Request{Method: http.MethodGet, URL: g.cfg.BaseURL + "/files/" + url.PathEscape(fileID) + "/content", Header: g.header, Timeout: g.batchTimeout()})
	if ce != nil {
		return nil, fmt.Errorf("downloading batch file %s: %w", fileID, g.scrub.Error(ce))
	}
	defer resp.Release()
	if resp.Status != http.StatusOK {
		msg, _ := parseError(resp.Body)
		return nil, fmt.Errorf("downloading batch file %s: %w", fileID, g.scrub.Error(wire.StatusError(resp.Status, resp.Header, resp.Body, msg, time.Now())))
	}
	var out []*sdk.Result
	sc := bufio.NewScanner(bytes.NewReader(resp.Body))
	sc.Buffer(make([]byte, 0, 64<<10), wire.MaxBody)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l struct {
			CustomID string `json:"custom_id"`
			Response *struct {
				StatusCode int             `json:"status_code"`
				Body       json.RawMessage `json:"body"`
			} `json:"response"`
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := wire.Unmarshal(line, &l); err != nil || l.CustomID == "" {
			return nil, fmt.Errorf("batch file %s line %d is not a batch output line: %w", fileID, lineNo, g.scrub.Error(wire.Malformed(line, fmt.Errorf("no custom_id or bad JSON"))))
		}
		callID, wantJSON := parseCustomID(l.CustomID)
		r := &sdk.Result{ID: callID}
		switch {
		case l.Error != nil:
			code := sdk.ErrServer
			if l.Error.Code == "batch_expired" || l.Error.Code == "batch_cancelled" {
				code = sdk.ErrTimeout // never ran: sending it again is right
			}
			r.Err = g.scrub.Error(&sdk.CallError{Code: code, Message: l.Error.Code + ": " + l.Error.Message})
		case l.Response == nil:
			r.Err = g.scrub.Error(&sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "batch line has neither response nor error", Raw: wire.Truncate(string(line))})
		default:
			dr, err := g.decode(l.Response.StatusCode, http.Header{}, l.Response.Body, &sdk.Call{Output: sdk.OutputFormat{JSON: wantJSON}})
			if dr != nil {
				dr.ID = callID
				r = dr
			}
			if err != nil {
				r.Err = err.(*sdk.CallError)
			}
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading batch file %s: %w", fileID, err)
	}
	return out, nil
}

// customID carries the call's ID and whether it wants JSON, since PollBatch
// gets nothing but the batch id and must still extract JSON answers.
func customID(c *sdk.Call) string {
	if c.Output.JSON {
		return "j:" + c.ID
	}
	return "t:" + c.ID
}

func parseCustomID(s string) (id string, wantJSON bool) {
	switch {
	case strings.HasPrefix(s, "j:"):
		return s[2:], true
	case strings.HasPrefix(s, "t:"):
		return s[2:], false
	}
	return s, false
}

// call makes one Batch API control request and decodes its JSON answer.
func (g *generator) call(ctx context.Context, method, u string, r wire.Request, out any) error {
	r.Method, r.URL, r.Header, r.Timeout = method, u, g.header, g.batchTimeout()
	resp, ce := wire.Do(ctx, r)
	if ce != nil {
		return g.scrub.Error(ce)
	}
	defer resp.Release()
	if resp.Status < 200 || resp.Status > 299 {
		msg, _ := parseError(resp.Body)
		return g.scrub.Error(wire.StatusError(resp.Status, resp.Header, resp.Body, msg, time.Now()))
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return g.scrub.Error(wire.Malformed(resp.Body, err))
	}
	return nil
}
