// A plugin that crashes when asked to ("crash") or hangs ("hang"), for the
// host's failure tests.
package main

import (
	"context"
	"os"
	"time"

	"github.com/polyglot-teachers/polyglot/sdk"
)

type crashy struct{}

func (crashy) Describe() sdk.Description {
	return sdk.Description{Name: "crashy", Schema: sdk.Schema()}
}

func (crashy) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	return sdk.GeneratorFunc(func(ctx context.Context, c *sdk.Call) (*sdk.Result, error) {
		switch c.Messages[len(c.Messages)-1].Content {
		case "crash":
			os.Exit(7)
		case "hang":
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Hour):
			}
		}
		return &sdk.Result{Text: "ok", FinishReason: "stop"}, nil
	}), nil
}

func main() {
	sdk.Serve(sdk.ServeOpts{Name: "crashy", Version: "1.0.0", Teachers: []sdk.Teacher{crashy{}}})
}
