// A plugin that will not finish starting until BARRIER_N plugins have begun
// to start, for the test that plugins start at the same time. It marks its
// start with a file in BARRIER_DIR and waits for BARRIER_N such files; after
// 10 s without them it exits, failing its start. The name is set at build
// time (-ldflags -X main.name=...), so one source gives several plugins.
package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/polyglot-teachers/polyglot/sdk"
)

var name = "barrier"

type teacher struct{}

func (teacher) Describe() sdk.Description { return sdk.Description{Name: name, Schema: sdk.Schema()} }

func (teacher) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	return sdk.GeneratorFunc(func(ctx context.Context, c *sdk.Call) (*sdk.Result, error) {
		return &sdk.Result{Text: name, FinishReason: "stop"}, nil
	}), nil
}

func main() {
	if dir := os.Getenv("BARRIER_DIR"); dir != "" && len(os.Args) == 1 {
		n, _ := strconv.Atoi(os.Getenv("BARRIER_N"))
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			panic(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if es, _ := os.ReadDir(dir); len(es) >= n {
				break
			}
			if time.Now().After(deadline) {
				os.Exit(3)
			}
		}
	}
	sdk.Serve(sdk.ServeOpts{Name: name, Version: "1.0.0", Teachers: []sdk.Teacher{teacher{}}})
}
