// Package openai is the polyglot teacher for OpenAI-compatible chat
// completion servers: OpenAI itself, vLLM, SGLang, Ollama, llama.cpp's
// server, LM Studio, OpenRouter, Together, Gemini's compatibility endpoint.
//
// Generate makes one non-streaming POST {base_url}/chat/completions per call
// and classifies failures into sdk.CallError codes; the host owns retries,
// rate limits and budgets. Calls that ask for JSON use the server's
// structured output (response_format json_schema or json_object) or, with
// structured_output = "none", an instruction in the system prompt; either
// way the JSON object is extracted from the answer and returned as Text.
//
// Batch mode (sdk.BatchGenerator) uses the OpenAI Batch API: the calls are
// uploaded as a JSONL file, a batch is created for /v1/chat/completions,
// and polling downloads the output and error files and maps each line back
// to its call by custom_id (the call's ID).
//
// Requests go through the shared HTTP client of package wire
// (see there why no vendor SDK).
package openai

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/wire"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// DefaultBaseURL is OpenAI's API root.
const DefaultBaseURL = "https://api.openai.com/v1"

// Name is the component name.
const Name = "openai"

// New returns the teacher.
func New() sdk.Teacher { return teacher{} }

type teacher struct{}

var schema = sdk.Schema(append(wire.CommonAttrs(DefaultBaseURL),
	sdk.Doc("An OpenAI-compatible chat completions server."),
	sdk.Attr("organization", cty.String).Doc("OpenAI organization id (OpenAI-Organization header)."),
	sdk.Attr("project", cty.String).Doc("OpenAI project id (OpenAI-Project header)."),
	sdk.Attr("extra_body", cty.DynamicPseudoType).Doc("Object of extra top-level request fields passed through as is, e.g. { repetition_penalty = 1.05 } for vLLM. They override fields polyglot sets."),
	sdk.Attr("structured_output", cty.String).Doc("How calls that want JSON ask for it: \"json_schema\" (response_format with the call's schema), \"json_object\" (JSON mode) or \"none\" (an instruction in the system prompt).").Default(cty.StringVal("json_schema")),
	sdk.Attr("strict_schema", cty.Bool).Doc("Send json_schema with strict = true (OpenAI then requires every property to be required and additionalProperties false).").Default(cty.False),
	sdk.Attr("max_tokens_field", cty.String).Doc("Request field for the output token limit: \"auto\" (max_completion_tokens for api.openai.com, max_tokens elsewhere), \"max_tokens\" or \"max_completion_tokens\".").Default(cty.StringVal("auto")),
	sdk.Attr("send_top_k", cty.String).Doc("Send top_k (a vLLM/SGLang extension): \"auto\" (everywhere but api.openai.com, which rejects it), \"always\" or \"never\".").Default(cty.StringVal("auto")),
	sdk.Attr("completion_window", cty.String).Doc("Batch API completion window.").Default(cty.StringVal("24h")),
)...)

func (teacher) Describe() sdk.Description {
	return sdk.Description{Name: Name, Description: "OpenAI-compatible chat completions (OpenAI, vLLM, SGLang, Ollama, llama.cpp, OpenRouter, ...), with OpenAI Batch API support.", Schema: schema}
}

func (teacher) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	_, diags := parseConfig(cfg)
	return diags
}

func (teacher) Open(_ context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	c, diags := parseConfig(req.Config)
	if req.Model == "" {
		diags = diags.Append(sdk.Diagnostic{Severity: sdk.Error, Summary: "no model", Detail: "set `model` in the teacher block to the model name the server knows (e.g. \"gpt-4o-mini\" or the vLLM --served-model-name)"})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return newGenerator(c, req.Model), diags
}

type config struct {
	wire.Common
	org, project     string
	extra            []byte
	structured       string
	strict           bool
	useMaxCompletion bool
	sendTopK         bool
	window           string
}

func parseConfig(cfg sdk.Config) (config, sdk.Diagnostics) {
	common, diags := wire.ParseCommon(cfg, DefaultBaseURL)
	c := config{Common: common, org: cfg.String("organization"), project: cfg.String("project"), strict: cfg.Bool("strict_schema")}
	extra, err := wire.ObjectFields(wire.Attr(cfg, "extra_body"))
	if err != nil {
		diags = diags.Append(sdk.AttrError("extra_body", "invalid extra_body", "extra_body %v", err))
	}
	c.extra = extra
	c.structured = cfg.String("structured_output")
	switch c.structured {
	case "":
		c.structured = "json_schema"
	case "json_schema", "json_object", "none":
	default:
		diags = diags.Append(sdk.AttrError("structured_output", "invalid structured_output", "%q is not one of \"json_schema\", \"json_object\", \"none\"", c.structured))
	}
	official := false
	if u, err := url.Parse(c.BaseURL); err == nil {
		official = strings.EqualFold(u.Hostname(), "api.openai.com")
	}
	switch f := cfg.String("max_tokens_field"); f {
	case "", "auto":
		c.useMaxCompletion = official
	case "max_tokens":
	case "max_completion_tokens":
		c.useMaxCompletion = true
	default:
		diags = diags.Append(sdk.AttrError("max_tokens_field", "invalid max_tokens_field", "%q is not one of \"auto\", \"max_tokens\", \"max_completion_tokens\"", f))
	}
	switch k := cfg.String("send_top_k"); k {
	case "", "auto":
		c.sendTopK = !official
	case "always":
		c.sendTopK = true
	case "never":
	default:
		diags = diags.Append(sdk.AttrError("send_top_k", "invalid send_top_k", "%q is not one of \"auto\", \"always\", \"never\"", k))
	}
	c.window = cfg.String("completion_window")
	if c.window == "" {
		c.window = "24h"
	}
	return c, diags
}

// ------------------------------------------------------------ wire format

type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []sdk.Message   `json:"messages"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	TopK                *int            `json:"top_k,omitempty"`
	MaxTokens           int             `json:"max_tokens,omitempty"`
	MaxCompletionTokens int             `json:"max_completion_tokens,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	Stop                []string        `json:"stop,omitempty"`
	ResponseFormat      *responseFormat `json:"response_format,omitempty"`
}

type responseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *jsonSchema `json:"json_schema,omitempty"`
}

type jsonSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	Strict bool            `json:"strict,omitempty"`
}

type chatResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
	// Some compatible servers answer 200 with an error object.
	Error json.RawMessage `json:"error"`
}

// errorBody covers OpenAI's {"error":{...}}, vLLM's {"object":"error",
// "message":...} and servers that send {"error":"text"}.
type errorBody struct {
	Error   json.RawMessage `json:"error"`
	Message string          `json:"message"`
}

type errorObject struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"`
}

// parseError returns the provider's message and its code/type words.
func parseError(body []byte) (msg, kind string) {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return "", ""
	}
	if len(eb.Error) > 0 {
		var eo errorObject
		if json.Unmarshal(eb.Error, &eo) == nil {
			code, _ := eo.Code.(string)
			return eo.Message, eo.Type + " " + code
		}
		var s string
		if json.Unmarshal(eb.Error, &s) == nil {
			return s, ""
		}
	}
	return eb.Message, ""
}
