// Package anthropic is the polyglot teacher for Anthropic's Messages API
// (POST {base_url}/v1/messages), with batch mode on the Message Batches API.
//
// System messages go to the top-level `system` field; stop reasons are
// normalised (end_turn and stop_sequence -> "stop", max_tokens -> "length",
// refusal -> "content_filter"). The API has no structured-output mode that
// fits every model, so calls that want JSON get an instruction in the system
// prompt, and the first JSON object of the answer is extracted (no prefill,
// which some models reject). The API has no seed; a call's seed is not sent.
//
// Requests go through the shared HTTP client of package wire.
package anthropic

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

// DefaultBaseURL is Anthropic's API root.
const DefaultBaseURL = "https://api.anthropic.com"

// Name is the component name.
const Name = "anthropic"

// New returns the teacher.
func New() sdk.Teacher { return teacher{} }

type teacher struct{}

var schema = sdk.Schema(append(wire.CommonAttrs(DefaultBaseURL),
	sdk.Doc("Anthropic Messages API."),
	sdk.Attr("anthropic_version", cty.String).Doc("anthropic-version header.").Default(cty.StringVal("2023-06-01")),
	sdk.Attr("anthropic_beta", cty.String).Doc("anthropic-beta header (comma-separated beta names), if any."),
	sdk.Attr("default_max_tokens", cty.Number).Doc("max_tokens for calls that set none (the API requires one).").Default(cty.NumberIntVal(4096)),
	sdk.Attr("omit_top_p", cty.Bool).Doc("Do not send top_p when temperature is set (newer Claude models reject both together).").Default(cty.False),
)...)

func (teacher) Describe() sdk.Description {
	return sdk.Description{Name: Name, Description: "Anthropic Messages API, with Message Batches support.", Schema: schema}
}

func (teacher) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	_, diags := parseConfig(cfg)
	return diags
}

func (teacher) Open(_ context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	c, diags := parseConfig(req.Config)
	if req.Model == "" {
		diags = diags.Append(sdk.Diagnostic{Severity: sdk.Error, Summary: "no model", Detail: "set `model` in the teacher block, e.g. \"claude-sonnet-4-5\""})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	h := c.Header(map[string]string{"x-api-key": c.APIKey, "anthropic-version": c.version, "anthropic-beta": c.beta})
	return &generator{cfg: c, model: req.Model, header: h, scrub: c.Scrubber()}, diags
}

type config struct {
	wire.Common
	version, beta string
	maxTokens     int
	omitTopP      bool
}

func parseConfig(cfg sdk.Config) (config, sdk.Diagnostics) {
	common, diags := wire.ParseCommon(cfg, DefaultBaseURL)
	c := config{Common: common, version: cfg.String("anthropic_version"), beta: cfg.String("anthropic_beta"), maxTokens: 4096, omitTopP: cfg.Bool("omit_top_p")}
	if c.version == "" {
		c.version = "2023-06-01"
	}
	if cfg.Has("default_max_tokens") {
		c.maxTokens = cfg.Int("default_max_tokens")
		if c.maxTokens <= 0 {
			diags = diags.Append(sdk.AttrError("default_max_tokens", "invalid default_max_tokens", "must be a positive number of tokens, e.g. 4096"))
		}
	}
	return c, diags
}

type generator struct {
	cfg    config
	model  string
	header http.Header
	scrub  wire.Scrubber
}

type msgRequest struct {
	Model         string        `json:"model"`
	MaxTokens     int           `json:"max_tokens"`
	System        string        `json:"system,omitempty"`
	Messages      []sdk.Message `json:"messages"`
	Temperature   *float64      `json:"temperature,omitempty"`
	TopP          *float64      `json:"top_p,omitempty"`
	TopK          *int          `json:"top_k,omitempty"`
	StopSequences []string      `json:"stop_sequences,omitempty"`
}

type msgResponse struct {
	Model   string `json:"model"`
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	StopReason string `json:"stop_reason"`
	Usage      struct {
		InputTokens  int64 `json:"input_tokens"`
		OutputTokens int64 `json:"output_tokens"`
	} `json:"usage"`
}

type apiError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func (g *generator) request(call *sdk.Call) (*msgRequest, error) {
	system, msgs := wire.SplitSystem(call.Messages)
	if len(msgs) == 0 {
		return nil, &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "the call has no user message"}
	}
	for i, m := range msgs {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "message " + itoa(i) + " has role " + m.Role + "; Anthropic takes user and assistant turns (and system)"}
		}
	}
	if call.Output.JSON {
		system = wire.WithSystemSuffix(system, wire.JSONInstruction(call.Output.JSONSchema))
	}
	s := call.Sampling
	r := &msgRequest{Model: g.model, MaxTokens: s.MaxTokens, System: system, Messages: msgs, Temperature: s.Temperature, TopP: s.TopP, TopK: s.TopK, StopSequences: s.Stop}
	if r.MaxTokens <= 0 {
		r.MaxTokens = g.cfg.maxTokens
	}
	if g.cfg.omitTopP && r.Temperature != nil {
		r.TopP = nil
	}
	return r, nil
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// Generate makes one attempt.

// IgnoresMetadata: the provider is sent the messages only, so the host
// need not stream the calls' metadata (sdk.MetadataIgnorer).
func (g *generator) IgnoresMetadata() bool { return true }

func (g *generator) Generate(ctx context.Context, call *sdk.Call) (*sdk.Result, error) {
	res, err := g.generate(ctx, call)
	// An error about the set-up (key, model, URL) names the endpoint.
	return res, wire.LocateErr(err, http.MethodPost, g.cfg.BaseURL+"/v1/messages", g.scrub)
}

func (g *generator) generate(ctx context.Context, call *sdk.Call) (*sdk.Result, error) {
	body, err := g.request(call)
	if err != nil {
		return nil, err
	}
	resp, ce := wire.Do(ctx, wire.Request{Method: http.MethodPost, URL: g.cfg.BaseURL + "/v1/messages", Header: g.header, JSON: body})
	if ce != nil {
		return nil, g.scrub.Error(ce)
	}
	defer resp.Release()
	if resp.Status < 200 || resp.Status > 299 {
		return nil, g.statusError(resp.Status, resp.Header, resp.Body)
	}
	res, err := g.decode(resp.Body, call.Output.JSON)
	if res != nil {
		res.Latency = resp.Latency
	}
	return res, err
}

func (g *generator) statusError(status int, h http.Header, body []byte) *sdk.CallError {
	var ae apiError
	_ = json.Unmarshal(body, &ae)
	ce := wire.StatusError(status, h, body, ae.Error.Message, time.Now())
	if ae.Error.Type == "overloaded_error" {
		ce.Code = sdk.ErrServer
	}
	return g.scrub.Error(ce)
}

// decode turns a Message object into a result.
func (g *generator) decode(body []byte, wantJSON bool) (*sdk.Result, error) {
	var m msgResponse
	if err := wire.Unmarshal(body, &m); err != nil {
		return nil, g.scrub.Error(wire.Malformed(body, err))
	}
	var text strings.Builder
	for _, b := range m.Content {
		if b.Type == "text" {
			text.WriteString(b.Text)
		}
	}
	res := &sdk.Result{Text: text.String(), Model: m.Model, Usage: sdk.Usage{InputTokens: m.Usage.InputTokens, OutputTokens: m.Usage.OutputTokens}, FinishReason: stopReason(m.StopReason)}
	if res.Model == "" {
		res.Model = g.model
	}
	if m.StopReason == "" {
		return nil, g.scrub.Error(&sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "the answer has no stop_reason", Raw: wire.Truncate(string(body))})
	}
	if res.FinishReason == "content_filter" && strings.TrimSpace(res.Text) == "" {
		return res, &sdk.CallError{Code: sdk.ErrContentFiltered, Message: "the model refused to answer (stop_reason refusal)"}
	}
	if wantJSON {
		return wire.FinishJSON(res)
	}
	return res, nil
}

func stopReason(s string) string {
	switch s {
	case "end_turn", "stop_sequence":
		return "stop"
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "refusal":
		return "content_filter"
	}
	return s
}

// codeForType classifies an error object inside a batch result, where
// there is no HTTP status.
func codeForType(t string) sdk.ErrorCode {
	switch t {
	case "invalid_request_error", "not_found_error", "request_too_large":
		return sdk.ErrInvalidRequest
	case "authentication_error", "permission_error", "billing_error":
		return sdk.ErrAuth
	case "rate_limit_error":
		return sdk.ErrRateLimited
	case "api_error", "overloaded_error":
		return sdk.ErrServer
	case "timeout_error":
		return sdk.ErrTimeout
	}
	return sdk.ErrUnknown
}
