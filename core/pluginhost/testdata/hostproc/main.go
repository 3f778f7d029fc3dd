// A minimal host: starts one plugin through pluginhost.Manager, prints the
// plugin's PID, then waits to be killed. The SIGKILL test uses it.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/polyglot-teachers/polyglot/core/pluginhost"
)

func main() {
	m := &pluginhost.Manager{Dirs: []string{os.Args[1]}, Log: zerolog.New(os.Stderr)}
	r, err := m.Get(context.Background(), os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(r.Pid())
	time.Sleep(time.Hour)
}
