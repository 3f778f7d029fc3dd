package openai

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/wire"
	"github.com/polyglot-teachers/polyglot/sdk"
)

type generator struct {
	cfg    config
	model  string
	url    string
	header http.Header
	scrub  wire.Scrubber
}

func newGenerator(c config, model string) *generator {
	h := c.Header(map[string]string{"OpenAI-Organization": c.org, "OpenAI-Project": c.project})
	if c.APIKey != "" {
		h.Set("Authorization", "Bearer "+c.APIKey)
	}
	return &generator{cfg: c, model: model, url: c.BaseURL + "/chat/completions", header: h, scrub: c.Scrubber()}
}

// request builds the body of one call.
func (g *generator) request(call *sdk.Call) *chatRequest {
	s := call.Sampling
	r := &chatRequest{Model: g.model, Messages: call.Messages, Temperature: s.Temperature, TopP: s.TopP, Seed: s.Seed, Stop: s.Stop}
	if g.cfg.sendTopK {
		r.TopK = s.TopK
	}
	if g.cfg.useMaxCompletion {
		r.MaxCompletionTokens = s.MaxTokens
	} else {
		r.MaxTokens = s.MaxTokens
	}
	if call.Output.JSON {
		mode := g.cfg.structured
		schema := strings.TrimSpace(call.Output.JSONSchema)
		if mode == "json_schema" && schema == "" {
			mode = "json_object" // json_schema needs a schema
		}
		switch mode {
		case "json_schema":
			r.ResponseFormat = &responseFormat{Type: "json_schema", JSONSchema: &jsonSchema{Name: "output", Schema: json.RawMessage(schema), Strict: g.cfg.strict}}
		case "json_object":
			// JSON mode requires the word "JSON" in the messages; the
			// instruction also carries the schema, which JSON mode ignores.
			r.ResponseFormat = &responseFormat{Type: "json_object"}
			r.Messages = withInstruction(call.Messages, wire.JSONInstruction(schema))
		default:
			r.Messages = withInstruction(call.Messages, wire.JSONInstruction(schema))
		}
	}
	return r
}

// withInstruction appends text to the system message (or adds one first).
func withInstruction(msgs []sdk.Message, text string) []sdk.Message {
	out := make([]sdk.Message, 0, len(msgs)+1)
	done := false
	for _, m := range msgs {
		if !done && m.Role == "system" {
			m.Content = wire.WithSystemSuffix(m.Content, text)
			done = true
		}
		out = append(out, m)
	}
	if !done {
		out = append([]sdk.Message{{Role: "system", Content: text}}, out...)
	}
	return out
}

// Generate makes one attempt.

// IgnoresMetadata: the provider is sent the messages only, so the host
// need not stream the calls' metadata (sdk.MetadataIgnorer).
func (g *generator) IgnoresMetadata() bool { return true }

func (g *generator) Generate(ctx context.Context, call *sdk.Call) (*sdk.Result, error) {
	res, err := g.generate(ctx, call)
	// An error about the set-up (key, model, URL) names the endpoint.
	return res, wire.LocateErr(err, http.MethodPost, g.url, g.scrub)
}

func (g *generator) generate(ctx context.Context, call *sdk.Call) (*sdk.Result, error) {
	if err := checkCall(call); err != nil {
		return nil, err
	}
	resp, ce := wire.Do(ctx, wire.Request{Method: http.MethodPost, URL: g.url, Header: g.header, JSON: g.request(call), Extra: g.cfg.extra})
	if ce != nil {
		return nil, g.scrub.Error(ce)
	}
	defer resp.Release()
	res, err := g.decode(resp.Status, resp.Header, resp.Body, call)
	if res != nil {
		res.Latency = resp.Latency
	}
	return res, err
}

func checkCall(call *sdk.Call) error {
	if len(call.Messages) == 0 {
		return &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "the call has no messages"}
	}
	return nil
}

// decode turns one HTTP answer (or one batch output line) into a result.
func (g *generator) decode(status int, h http.Header, body []byte, call *sdk.Call) (*sdk.Result, error) {
	if status < 200 || status > 299 {
		msg, kind := parseError(body)
		ce := wire.StatusError(status, h, body, msg, time.Now())
		if strings.Contains(kind, "content_filter") || strings.Contains(kind, "content_policy") {
			ce.Code = sdk.ErrContentFiltered
		}
		return nil, g.scrub.Error(ce)
	}
	var cr chatResponse
	if err := wire.Unmarshal(body, &cr); err != nil {
		return nil, g.scrub.Error(wire.Malformed(body, err))
	}
	if len(cr.Error) > 0 && string(cr.Error) != "null" {
		msg, _ := parseError(body)
		return nil, g.scrub.Error(&sdk.CallError{Code: sdk.ErrServer, HTTPStatus: status, Message: "the server answered 200 with an error: " + msg, Raw: wire.Truncate(string(body))})
	}
	if len(cr.Choices) == 0 {
		return nil, g.scrub.Error(&sdk.CallError{Code: sdk.ErrMalformedResponse, HTTPStatus: status, Message: "the answer has no choices", Raw: wire.Truncate(string(body))})
	}
	ch := cr.Choices[0]
	res := &sdk.Result{Model: cr.Model, Usage: sdk.Usage{InputTokens: cr.Usage.PromptTokens, OutputTokens: cr.Usage.CompletionTokens}}
	if res.Model == "" {
		res.Model = g.model
	}
	if ch.Message.Content != nil {
		res.Text = *ch.Message.Content
	}
	res.FinishReason = finishReason(ch.FinishReason)
	if ch.Message.Refusal != nil && *ch.Message.Refusal != "" && res.Text == "" {
		res.FinishReason = "content_filter"
		res.Text = ""
	}
	if res.FinishReason == "content_filter" && res.Text == "" {
		msg := "the provider's content filter blocked the answer"
		if ch.Message.Refusal != nil && *ch.Message.Refusal != "" {
			msg = "the model refused: " + *ch.Message.Refusal
		}
		return res, g.scrub.Error(&sdk.CallError{Code: sdk.ErrContentFiltered, HTTPStatus: status, Message: msg})
	}
	if call.Output.JSON {
		return wire.FinishJSON(res)
	}
	return res, nil
}

func finishReason(s string) string {
	switch s {
	case "stop", "eos", "stop_sequence":
		return "stop"
	case "length", "max_tokens":
		return "length"
	case "content_filter":
		return "content_filter"
	}
	return s
}
