package command

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/polyglot-teachers/polyglot/sdk"
)

func init() {
	register(cmd{name: "version", synopsis: "print the version (also `polyglot --version`)", usage: "version", run: func(ctx context.Context, env *Env, args []string) error {
		if _, err := parseArgs(newFlags("version"), args, 0); err != nil {
			return err
		}
		printVersion(env.Stdout)
		return nil
	}})
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "polyglot %s (plugin protocol %d, %s)\n", Version, sdk.ProtocolVersion, runtime.Version())
}
