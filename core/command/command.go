// Package command implements the polyglot CLI: argument parsing, logging
// set-up, signal handling and one file per subcommand. The work itself lives
// in the other core packages; commands only wire them together.
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Version is the polyglot version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Env is what a command needs from its surroundings, so tests can run
// commands in-process.
type Env struct {
	Stdout, Stderr io.Writer
	Builtins       map[string]sdk.ServeOpts
	Log            zerolog.Logger
}

type cmd struct {
	name, synopsis string
	hidden         bool
	run            func(ctx context.Context, env *Env, args []string) error
}

var commands []cmd

func register(c cmd) { commands = append(commands, c) }

// exitError carries an exit code without printing more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Main runs the CLI and returns the process exit code.
func Main(args []string, builtins map[string]sdk.ServeOpts) int {
	// Built-in plugins are served before anything else touches stdout:
	// go-plugin's handshake owns it.
	if len(args) > 0 && args[0] == "internal-plugin" {
		return servePlugin(args[1:], builtins)
	}
	env := &Env{Stdout: os.Stdout, Stderr: os.Stderr, Builtins: builtins, Log: newLogger(os.Stderr)}
	ctx, stop := signalContext(env.Log)
	defer stop()
	return run(ctx, env, args)
}

func run(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, env, args[1:])
			var ee exitError
			switch {
			case err == nil:
				return 0
			case errors.As(err, &ee):
				return ee.code
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, context.Canceled):
				fmt.Fprintln(env.Stderr, "polyglot: interrupted; everything finished so far is saved, run the command again to continue")
				return 130
			default:
				fmt.Fprintf(env.Stderr, "polyglot %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(env.Stderr, "polyglot: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "polyglot: which teacher model should generate your synthetic data, for which language?")
	fmt.Fprintln(w, "\nUsage: polyglot <command> [flags] [DIR]\n\nCommands:")
	sorted := append([]cmd(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		if !c.hidden {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.synopsis)
		}
	}
	fmt.Fprintln(w, "\nRun `polyglot <command> -h` for a command's flags.")
}

func servePlugin(args []string, builtins map[string]sdk.ServeOpts) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "internal-plugin needs a plugin name")
		return 2
	}
	opts, ok := builtins[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "no built-in plugin %q\n", args[0])
		return 2
	}
	// Built-in metrics hold a cell in memory; a soft limit keeps the Go
	// heap (and garbage) of a plugin process within budget unless the user
	// set GOMEMLIMIT.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(384 << 20)
	}
	// A teacher plugin's live heap is tiny and its garbage grows with
	// requests: collecting less often saves CPU on every call. Plugins
	// that hold a cell keep the default: their live heap is what counts.
	if os.Getenv("GOGC") == "" && len(opts.Teachers) > 0 && len(opts.Metrics) == 0 {
		debug.SetGCPercent(400)
	}
	opts.Args = args[1:]
	if opts.Args == nil {
		opts.Args = []string{}
	}
	sdk.Serve(opts)
	return 0
}

// signalContext cancels on the first Ctrl-C (finish in-flight work, save,
// stop) and kills every plugin and exits on the second.
func signalContext(log zerolog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for range ch {
			n++
			if n == 1 {
				log.Warn().Msg("stopping: finishing in-flight requests and saving; press Ctrl-C again to stop at once")
				cancel()
				continue
			}
			plugin.CleanupClients()
			fmt.Fprintln(os.Stderr, "polyglot: hard stop; run the command again to resume")
			os.Exit(130)
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

func newLogger(w *os.File) zerolog.Logger {
	lvl := zerolog.InfoLevel
	if s := os.Getenv("POLYGLOT_LOG"); s != "" {
		if l, err := zerolog.ParseLevel(strings.ToLower(s)); err == nil {
			lvl = l
		}
	}
	var out io.Writer = w
	if term.IsTerminal(int(w.Fd())) && os.Getenv("POLYGLOT_LOG_JSON") == "" {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.Kitchen}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger()
}

// isTerminal reports whether w is a terminal (progress bars only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
