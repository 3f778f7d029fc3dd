// Package cohere is the polyglot teacher for Cohere's v2 chat API
// (POST {base_url}/v2/chat), for Command A and Aya Expanse.
//
// Sampling maps to the v2 names (p, k, max_tokens, seed, stop_sequences).
// Calls that want JSON use response_format {"type":"json_object"} with the
// call's schema as json_schema, plus an instruction in the system prompt
// (Cohere recommends telling the model), or only the instruction with
// structured_output = "none". finish_reason is normalised (COMPLETE and
// STOP_SEQUENCE -> "stop", MAX_TOKENS -> "length"); usage is the billed
// units when the answer has them, else the token counts.
package cohere

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/wire"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// DefaultBaseURL is Cohere's API root.
const DefaultBaseURL = "https://api.cohere.com"

// Name is the component name.
const Name = "cohere"

// New returns the teacher.
func New() sdk.Teacher { return teacher{} }

type teacher struct{}

var schema = sdk.Schema(append(wire.CommonAttrs(DefaultBaseURL),
	sdk.Doc("Cohere v2 chat API."),
	sdk.Attr("structured_output", cty.String).Doc("How calls that want JSON ask for it: \"json_object\" (response_format with the call's schema) or \"none\" (instruction only).").Default(cty.StringVal("json_object")),
	sdk.Attr("safety_mode", cty.String).Doc("Cohere safety_mode: \"CONTEXTUAL\", \"STRICT\" or \"OFF\"; unset leaves the model's default."),
)...)

func (teacher) Describe() sdk.Description {
	return sdk.Description{Name: Name, Description: "Cohere v2 chat (Command A, Aya Expanse).", Schema: schema}
}

func (teacher) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	_, diags := parseConfig(cfg)
	return diags
}

func (teacher) Open(_ context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	c, diags := parseConfig(req.Config)
	if req.Model == "" {
		diags = diags.Append(sdk.Diagnostic{Severity: sdk.Error, Summary: "no model", Detail: "set `model` in the teacher block, e.g. \"command-a-03-2025\" or \"c4ai-aya-expanse-32b\""})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	h := c.Header(nil)
	if c.APIKey != "" {
		h.Set("Authorization", "Bearer "+c.APIKey)
	}
	return &generator{cfg: c, model: req.Model, url: c.BaseURL + "/v2/chat", header: h, scrub: c.Scrubber()}, diags
}

type config struct {
	wire.Common
	structured string
	safetyMode string
}

func parseConfig(cfg sdk.Config) (config, sdk.Diagnostics) {
	common, diags := wire.ParseCommon(cfg, DefaultBaseURL)
	c := config{Common: common, structured: cfg.String("structured_output"), safetyMode: cfg.String("safety_mode")}
	switch c.structured {
	case "":
		c.structured = "json_object"
	case "json_object", "none":
	default:
		diags = diags.Append(sdk.AttrError("structured_output", "invalid structured_output", "%q is not one of \"json_object\", \"none\"", c.structured))
	}
	switch c.safetyMode {
	case "", "CONTEXTUAL", "STRICT", "OFF":
	default:
		diags = diags.Append(sdk.AttrError("safety_mode", "invalid safety_mode", "%q is not one of \"CONTEXTUAL\", \"STRICT\", \"OFF\"", c.safetyMode))
	}
	return c, diags
}

type generator struct {
	cfg    config
	model  string
	url    string
	header http.Header
	scrub  wire.Scrubber
}

type responseFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

type request struct {
	Model          string          `json:"model"`
	Messages       []sdk.Message   `json:"messages"`
	Temperature    *float64        `json:"temperature,omitempty"`
	P              *float64        `json:"p,omitempty"`
	K              *int            `json:"k,omitempty"`
	MaxTokens      int             `json:"max_tokens,omitempty"`
	Seed           *int64          `json:"seed,omitempty"`
	StopSequences  []string        `json:"stop_sequences,omitempty"`
	SafetyMode     string          `json:"safety_mode,omitempty"`
	ResponseFormat *responseFormat `json:"response_format,omitempty"`
}

type tokens struct {
	InputTokens  *float64 `json:"input_tokens"`
	OutputTokens *float64 `json:"output_tokens"`
}

type response struct {
	FinishReason string `json:"finish_reason"`
	Message      struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"message"`
	Usage struct {
		BilledUnits tokens `json:"billed_units"`
		Tokens      tokens `json:"tokens"`
	} `json:"usage"`
}

func (g *generator) request(call *sdk.Call) (*request, error) {
	if len(call.Messages) == 0 {
		return nil, &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "the call has no messages"}
	}
	s := call.Sampling
	r := &request{Model: g.model, Messages: call.Messages, Temperature: s.Temperature, P: s.TopP, K: s.TopK, MaxTokens: s.MaxTokens, Seed: s.Seed, StopSequences: s.Stop, SafetyMode: g.cfg.safetyMode}
	if call.Output.JSON {
		schema := strings.TrimSpace(call.Output.JSONSchema)
		if g.cfg.structured == "json_object" {
			r.ResponseFormat = &responseFormat{Type: "json_object"}
			if schema != "" {
				r.ResponseFormat.JSONSchema = json.RawMessage(schema)
			}
		}
		r.Messages = withInstruction(call.Messages, wire.JSONInstruction(schema))
	}
	return r, nil
}

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
	body, err := g.request(call)
	if err != nil {
		return nil, err
	}
	resp, ce := wire.Do(ctx, wire.Request{Method: http.MethodPost, URL: g.url, Header: g.header, JSON: body})
	if ce != nil {
		return nil, g.scrub.Error(ce)
	}
	defer resp.Release()
	if resp.Status < 200 || resp.Status > 299 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(resp.Body, &e)
		ce := wire.StatusError(resp.Status, resp.Header, resp.Body, e.Message, time.Now())
		switch resp.Status {
		case 498, 402: // invalid token; payment required
			ce.Code = sdk.ErrAuth
		case 499: // request cancelled by the client
			ce.Code = sdk.ErrCancelled
		}
		return nil, g.scrub.Error(ce)
	}
	res, err := g.decode(resp.Body, call.Output.JSON)
	if res != nil {
		res.Latency = resp.Latency
	}
	return res, err
}

func (g *generator) decode(body []byte, wantJSON bool) (*sdk.Result, error) {
	var r response
	if err := wire.Unmarshal(body, &r); err != nil {
		return nil, g.scrub.Error(wire.Malformed(body, err))
	}
	if r.FinishReason == "" {
		return nil, g.scrub.Error(&sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "the answer has no finish_reason", Raw: wire.Truncate(string(body))})
	}
	var text strings.Builder
	for _, c := range r.Message.Content {
		if c.Type == "text" {
			text.WriteString(c.Text)
		}
	}
	res := &sdk.Result{Text: text.String(), Model: g.model, FinishReason: finishReason(r.FinishReason)}
	u := r.Usage.BilledUnits
	if u.InputTokens == nil && u.OutputTokens == nil {
		u = r.Usage.Tokens
	}
	if u.InputTokens != nil {
		res.Usage.InputTokens = int64(*u.InputTokens)
	}
	if u.OutputTokens != nil {
		res.Usage.OutputTokens = int64(*u.OutputTokens)
	}
	if r.FinishReason == "ERROR" {
		return res, &sdk.CallError{Code: sdk.ErrServer, Message: "Cohere reported an error during generation (finish_reason ERROR)", Raw: wire.Truncate(string(body))}
	}
	if wantJSON {
		return wire.FinishJSON(res)
	}
	return res, nil
}

func finishReason(s string) string {
	switch s {
	case "COMPLETE", "STOP_SEQUENCE":
		return "stop"
	case "MAX_TOKENS":
		return "length"
	}
	return s
}
