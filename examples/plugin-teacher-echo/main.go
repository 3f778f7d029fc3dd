// Command polyglot-plugin-echo is a complete third-party teacher plugin: it
// answers every call with the last user message, transformed. It imports
// only the polyglot SDK. See README.md for the walk-through.
package main

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// echo is the teacher component. Describe declares its config schema; the
// host checks the user's `config { }` block against it before Open.
type echo struct{}

func (echo) Describe() sdk.Description {
	return sdk.Description{
		Name:        "echo",
		Description: "Answers with the last user message, optionally upper-cased and prefixed.",
		Schema: sdk.Schema(
			sdk.Attr("prefix", cty.String).Doc("text put before every answer"),
			sdk.Attr("uppercase", cty.Bool).Default(cty.False).Doc("upper-case the answer"),
			sdk.Attr("repeat", cty.Number).Default(cty.NumberIntVal(1)).Doc("how often the message is repeated (1-10)"),
		),
	}
}

// ValidateConfig adds checks the schema cannot express. The path names the
// attribute, so the host can point at its line in the user's file.
func (echo) ValidateConfig(ctx context.Context, cfg sdk.Config) sdk.Diagnostics {
	if n := cfg.Int("repeat"); n < 1 || n > 10 {
		return sdk.Diagnostics{sdk.AttrError("repeat", "repeat out of range", "repeat is %d; set it between 1 and 10.", n)}
	}
	return nil
}

func (e echo) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	if diags := e.ValidateConfig(ctx, req.Config); diags.HasErrors() {
		return nil, diags
	}
	prefix, upper, repeat := req.Config.String("prefix"), req.Config.Bool("uppercase"), req.Config.Int("repeat")
	return sdk.GeneratorFunc(func(ctx context.Context, call *sdk.Call) (*sdk.Result, error) {
		start := time.Now()
		var last string
		for _, m := range call.Messages {
			if m.Role == "user" {
				last = m.Content
			}
		}
		text := prefix + strings.Repeat(last, repeat)
		if upper {
			text = strings.ToUpper(text)
		}
		if call.Output.JSON { // asked for {prompt, response}: give exactly that
			b, _ := json.Marshal(map[string]string{"prompt": last, "response": text})
			text = string(b)
		}
		words := int64(len(strings.Fields(last)))
		return &sdk.Result{
			Text: text, FinishReason: "stop", Model: req.Model, Latency: time.Since(start),
			Usage: sdk.Usage{InputTokens: words, OutputTokens: words * int64(repeat)},
		}, nil
	}), nil
}

func main() {
	sdk.Serve(sdk.ServeOpts{Name: "echo", Version: "0.1.0", Teachers: []sdk.Teacher{echo{}}})
}
