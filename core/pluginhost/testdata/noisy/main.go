// A broken plugin: it prints to stdout before the handshake.
package main

import (
	"fmt"

	"github.com/polyglot-teachers/polyglot/sdk"
)

func main() {
	fmt.Println("starting up!")
	sdk.Serve(sdk.ServeOpts{Name: "noisy", Version: "1.0.0"})
}
