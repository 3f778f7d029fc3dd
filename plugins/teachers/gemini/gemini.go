// Package gemini is the polyglot teacher for Google's Gemini API, native
// format: POST {base_url}/{api_version}/models/{model}:generateContent with
// the key in the x-goog-api-key header (never in the URL, where proxies log
// it).
//
// System messages become systemInstruction, assistant turns the "model"
// role; sampling goes into generationConfig. Calls that want JSON get
// responseMimeType "application/json" and the call's schema as
// responseSchema (the OpenAPI subset: JSON Schema keywords it rejects, such
// as additionalProperties and $schema, are dropped) or as responseJsonSchema,
// or only an instruction, per structured_output. finishReason is normalised
// (STOP -> "stop", MAX_TOKENS -> "length", SAFETY and the other block
// reasons -> "content_filter"); a prompt blocked outright is
// ErrContentFiltered. Output tokens include thinking tokens, which are
// billed as output.
package gemini

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/wire"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// DefaultBaseURL is the Gemini API root.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// Name is the component name.
const Name = "gemini"

// New returns the teacher.
func New() sdk.Teacher { return teacher{} }

type teacher struct{}

var schema = sdk.Schema(append(wire.CommonAttrs(DefaultBaseURL),
	sdk.Doc("Gemini API generateContent."),
	sdk.Attr("api_version", cty.String).Doc("API version path segment.").Default(cty.StringVal("v1beta")),
	sdk.Attr("structured_output", cty.String).Doc("How calls that want JSON ask for it: \"response_schema\" (OpenAPI-subset schema), \"response_json_schema\" (full JSON Schema, newer models), \"mime_only\" (JSON mime type, schema in the prompt) or \"none\" (instruction only).").Default(cty.StringVal("response_schema")),
)...)

func (teacher) Describe() sdk.Description {
	return sdk.Description{Name: Name, Description: "Google Gemini API (native generateContent).", Schema: schema}
}

func (teacher) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	_, diags := parseConfig(cfg)
	return diags
}

func (teacher) Open(_ context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	c, diags := parseConfig(req.Config)
	model := strings.TrimPrefix(req.Model, "models/")
	if model == "" || strings.ContainsAny(model, "/:?#") {
		diags = diags.Append(sdk.Diagnostic{Severity: sdk.Error, Summary: "invalid model", Detail: "set `model` in the teacher block to a Gemini model id such as \"gemini-2.5-flash\""})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	h := c.Header(map[string]string{"x-goog-api-key": c.APIKey})
	u := c.BaseURL + "/" + c.version + "/models/" + url.PathEscape(model) + ":generateContent"
	return &generator{cfg: c, model: model, url: u, header: h, scrub: c.Scrubber()}, diags
}

type config struct {
	wire.Common
	version    string
	structured string
}

func parseConfig(cfg sdk.Config) (config, sdk.Diagnostics) {
	common, diags := wire.ParseCommon(cfg, DefaultBaseURL)
	c := config{Common: common, version: cfg.String("api_version"), structured: cfg.String("structured_output")}
	if c.version == "" {
		c.version = "v1beta"
	}
	if strings.ContainsAny(c.version, "/?#") {
		diags = diags.Append(sdk.AttrError("api_version", "invalid api_version", "%q must be one path segment such as \"v1beta\"", c.version))
	}
	switch c.structured {
	case "":
		c.structured = "response_schema"
	case "response_schema", "response_json_schema", "mime_only", "none":
	default:
		diags = diags.Append(sdk.AttrError("structured_output", "invalid structured_output", "%q is not one of \"response_schema\", \"response_json_schema\", \"mime_only\", \"none\"", c.structured))
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

type part struct {
	Text    string `json:"text"`
	Thought bool   `json:"thought,omitempty"`
}

type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

type genConfig struct {
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *int            `json:"topK,omitempty"`
	MaxOutputTokens    int             `json:"maxOutputTokens,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseSchema     json.RawMessage `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
}

type request struct {
	Contents          []content  `json:"contents"`
	SystemInstruction *content   `json:"systemInstruction,omitempty"`
	GenerationConfig  *genConfig `json:"generationConfig,omitempty"`
}

type response struct {
	Candidates []struct {
		Content      content `json:"content"`
		FinishReason string  `json:"finishReason"`
	} `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata struct {
		PromptTokenCount     int64 `json:"promptTokenCount"`
		CandidatesTokenCount int64 `json:"candidatesTokenCount"`
		ThoughtsTokenCount   int64 `json:"thoughtsTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
}

type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type       string `json:"@type"`
			RetryDelay string `json:"retryDelay"`
			Reason     string `json:"reason"`
		} `json:"details"`
	} `json:"error"`
}

func (g *generator) request(call *sdk.Call) (*request, error) {
	system, msgs := wire.SplitSystem(call.Messages)
	if len(msgs) == 0 {
		return nil, &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "the call has no user message"}
	}
	r := &request{Contents: make([]content, len(msgs))}
	for i, m := range msgs {
		role := "user"
		switch m.Role {
		case "user":
		case "assistant", "model":
			role = "model"
		default:
			return nil, &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "message role " + m.Role + " is not user, assistant or system"}
		}
		r.Contents[i] = content{Role: role, Parts: []part{{Text: m.Content}}}
	}
	s := call.Sampling
	gc := &genConfig{Temperature: s.Temperature, TopP: s.TopP, TopK: s.TopK, MaxOutputTokens: s.MaxTokens, Seed: s.Seed, StopSequences: s.Stop}
	if call.Output.JSON {
		schema := strings.TrimSpace(call.Output.JSONSchema)
		mode := g.cfg.structured
		if schema == "" && (mode == "response_schema" || mode == "response_json_schema") {
			mode = "mime_only"
		}
		switch mode {
		case "response_schema":
			gc.ResponseMimeType = "application/json"
			cleaned, err := openAPISubset(schema)
			if err != nil {
				return nil, &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: "the call's JSON schema does not parse: " + err.Error()}
			}
			gc.ResponseSchema = cleaned
		case "response_json_schema":
			gc.ResponseMimeType = "application/json"
			gc.ResponseJSONSchema = json.RawMessage(schema)
		case "mime_only":
			gc.ResponseMimeType = "application/json"
			system = wire.WithSystemSuffix(system, wire.JSONInstruction(schema))
		default:
			system = wire.WithSystemSuffix(system, wire.JSONInstruction(schema))
		}
	}
	if system != "" {
		r.SystemInstruction = &content{Parts: []part{{Text: system}}}
	}
	if gc.Temperature != nil || gc.TopP != nil || gc.TopK != nil || gc.MaxOutputTokens != 0 || gc.Seed != nil || len(gc.StopSequences) > 0 || gc.ResponseMimeType != "" {
		r.GenerationConfig = gc
	}
	return r, nil
}

// unsupported lists JSON Schema keywords that responseSchema (an OpenAPI
// 3.0 subset) rejects.
var unsupported = []string{"$schema", "$id", "additionalProperties", "$defs", "definitions", "$comment"}

// openAPISubset drops keywords responseSchema rejects, at every level.
func openAPISubset(schema string) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal([]byte(schema), &v); err != nil {
		return nil, err
	}
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for _, k := range unsupported {
				delete(t, k)
			}
			for _, e := range t {
				walk(e)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return json.Marshal(v)
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
	for _, d := range ae.Error.Details {
		// Gemini says how long to wait in the body, not in a header.
		if ce.RetryAfter == 0 && strings.HasSuffix(d.Type, "google.rpc.RetryInfo") && d.RetryDelay != "" {
			if dur, err := time.ParseDuration(d.RetryDelay); err == nil {
				ce.RetryAfter = dur
			}
		}
		if d.Reason == "API_KEY_INVALID" {
			ce.Code = sdk.ErrAuth // Gemini answers a bad key with 400
		}
	}
	switch ae.Error.Status {
	case "UNAUTHENTICATED", "PERMISSION_DENIED":
		ce.Code = sdk.ErrAuth
	case "RESOURCE_EXHAUSTED":
		ce.Code = sdk.ErrRateLimited
	case "DEADLINE_EXCEEDED":
		ce.Code = sdk.ErrTimeout
	}
	return g.scrub.Error(ce)
}

func (g *generator) decode(body []byte, wantJSON bool) (*sdk.Result, error) {
	var r response
	if err := wire.Unmarshal(body, &r); err != nil {
		return nil, g.scrub.Error(wire.Malformed(body, err))
	}
	u := r.UsageMetadata
	res := &sdk.Result{Model: r.ModelVersion, Usage: sdk.Usage{InputTokens: u.PromptTokenCount, OutputTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount}}
	if res.Model == "" {
		res.Model = g.model
	}
	if len(r.Candidates) == 0 {
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			res.FinishReason = "content_filter"
			return res, &sdk.CallError{Code: sdk.ErrContentFiltered, Message: "Gemini blocked the prompt: " + r.PromptFeedback.BlockReason}
		}
		return nil, g.scrub.Error(&sdk.CallError{Code: sdk.ErrMalformedResponse, Message: "the answer has no candidates", Raw: wire.Truncate(string(body))})
	}
	c := r.Candidates[0]
	var text strings.Builder
	for _, p := range c.Content.Parts {
		if !p.Thought {
			text.WriteString(p.Text)
		}
	}
	res.Text = text.String()
	res.FinishReason = finishReason(c.FinishReason)
	if res.FinishReason == "content_filter" && strings.TrimSpace(res.Text) == "" {
		return res, &sdk.CallError{Code: sdk.ErrContentFiltered, Message: "Gemini stopped the answer: " + c.FinishReason}
	}
	if wantJSON {
		return wire.FinishJSON(res)
	}
	return res, nil
}

func finishReason(s string) string {
	switch s {
	case "STOP":
		return "stop"
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE":
		return "content_filter"
	}
	return s
}
