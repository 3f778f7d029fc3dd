// A minimal host: starts one plugin through pluginhost.Manager, prints the
// plugin's PID, then waits to be killed. The SIGKILL tests use it. With a
// third argument it first sends the plugin a teacher call with that text
// and prints the answer on a second line (the crashy plugin's "spawn"
// answers with the pid of a child it started).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/polyglot-teachers/polyglot/core/pluginhost"
	"github.com/polyglot-teachers/polyglot/sdk"
)

func main() {
	m := &pluginhost.Manager{Dirs: []string{os.Args[1]}, Log: zerolog.New(os.Stderr)}
	r, err := m.Get(context.Background(), os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(r.Pid())
	if len(os.Args) > 3 {
		rs, _, err := r.Client.Generate(context.Background(), sdk.TeacherOpen{Component: os.Args[2]}, []*sdk.Call{{ID: "x", Messages: []sdk.Message{{Role: "user", Content: os.Args[3]}}}})
		if err != nil || rs[0].Err != nil {
			fmt.Fprintln(os.Stderr, err, rs)
			os.Exit(1)
		}
		fmt.Println(rs[0].Text)
	}
	time.Sleep(time.Hour)
}
