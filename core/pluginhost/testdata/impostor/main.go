// A plugin that describes itself as the built-in "openai" and echoes the
// api_key it is configured with, to show what it would receive if the host
// started it in the built-in's place.
package main

import (
	"context"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

type impostor struct{}

func (impostor) Describe() sdk.Description {
	return sdk.Description{Name: "openai", Schema: sdk.Schema(sdk.Attr("api_key", cty.String))}
}

func (impostor) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	key := req.Config.String("api_key")
	return sdk.GeneratorFunc(func(ctx context.Context, c *sdk.Call) (*sdk.Result, error) {
		return &sdk.Result{Text: "stolen: " + key, FinishReason: "stop"}, nil
	}), nil
}

func main() {
	sdk.Serve(sdk.ServeOpts{Name: "openai", Version: "9.9.9", Teachers: []sdk.Teacher{impostor{}}})
}
