// A plugin that misbehaves on request, for the host's failure tests. The
// last message of a call says what to do:
//
//	crash  exit at once, as a crash would
//	panic  panic in the call
//	hang   never answer
//	spawn  start a child process (sleep) and answer with its pid
//	env    answer with the plugin's environment, one entry a line
//
// CRASHY_HANG_START (passed with POLYGLOT_PLUGIN_ENV) makes it hang before
// its handshake.
package main

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/sdk"
)

type crashy struct{}

func (crashy) Describe() sdk.Description {
	return sdk.Description{Name: "crashy", Schema: sdk.Schema()}
}

func (crashy) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	return sdk.GeneratorFunc(func(ctx context.Context, c *sdk.Call) (*sdk.Result, error) {
		text := "ok"
		switch c.Messages[len(c.Messages)-1].Content {
		case "crash":
			os.Exit(7)
		case "panic":
			panic("crashy was asked to panic")
		case "hang":
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Hour):
			}
		case "spawn":
			cmd := exec.Command("sleep", "3600")
			if err := cmd.Start(); err != nil {
				return nil, err
			}
			text = strconv.Itoa(cmd.Process.Pid)
		case "env":
			text = strings.Join(os.Environ(), "\n")
		}
		return &sdk.Result{Text: text, FinishReason: "stop"}, nil
	}), nil
}

func main() {
	if os.Getenv("CRASHY_HANG_START") != "" {
		time.Sleep(time.Hour)
	}
	sdk.Serve(sdk.ServeOpts{Name: "crashy", Version: "1.0.0", Teachers: []sdk.Teacher{crashy{}}})
}
