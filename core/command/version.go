package command

import (
	"context"
	"fmt"
	"runtime"

	"github.com/polyglot-teachers/polyglot/sdk"
)

func init() {
	register(cmd{name: "version", synopsis: "print the version", run: func(ctx context.Context, env *Env, args []string) error {
		fmt.Fprintf(env.Stdout, "polyglot %s (plugin protocol %d, %s)\n", Version, sdk.ProtocolVersion, runtime.Version())
		return nil
	}})
}
