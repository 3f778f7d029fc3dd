// Package command implements the polyglot CLI: argument parsing, logging
// set-up, signal handling and one file per subcommand. The work itself lives
// in the other core packages; commands only wire them together.
//
// Dispatch is this package's own (about a hundred lines) on top of the
// standard flag package, after weighing github.com/hashicorp/cli, which
// Terraform and Packer use. That library gives dispatch, nested commands and
// help listings, but (at v1.1.7) it exits 127 for a missing or unknown
// command and 1 for flags before the command or a help request from a
// command, where polyglot promises 2 for every usage error; it would also
// bring in fourteen modules (sprig and its dependencies, golang.org/x/crypto)
// for help templates and shell completion, and it leaves the defect that
// mattered, flags after DIR being ignored, to each command's flag parsing,
// which is the same flag package either way. The flag package is kept
// because it gives Terraform's flag syntax: `-var name=value` (repeatable),
// and `--var`, `-var=name=value` alike.
//
// The contract, tested in cli_test.go: every command takes its flags before
// or after its positional arguments; extra arguments are refused; exit code
// 0 is success, 1 a failure of the work, 2 a usage error (no command
// included), 130 an interrupt; `-h`/`--help` on every command and
// subcommand and `polyglot help COMMAND` print help to stdout and exit 0.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/polyglot-teachers/polyglot/core/secret"
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
	// logSink is Log's output when it can be routed above progress bars.
	logSink *logSink
}

// cmd is one command. A name with a space ("plugins list") is a
// subcommand of the command named by its first word.
type cmd struct {
	name, synopsis string
	// usage is the line after "Usage: polyglot ", help the text under it.
	usage, help string
	hidden      bool
	run         func(ctx context.Context, env *Env, args []string) error
}

var commands []cmd

func register(c cmd) { commands = append(commands, c) }

// lookup returns the command registered under name.
func lookup(name string) (cmd, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return cmd{}, false
}

// find returns the command named by the longest prefix of args and the
// arguments after its name.
func find(args []string) (cmd, []string, bool) {
	for n := len(args); n > 0; n-- {
		if c, ok := lookup(strings.Join(args[:n], " ")); ok {
			return c, args[n:], true
		}
	}
	return cmd{}, nil, false
}

// subcommands returns the visible commands one level under parent ("" for
// the top level), by name.
func subcommands(parent string) []cmd {
	var out []cmd
	for _, c := range commands {
		rel, ok := c.name, parent == ""
		if parent != "" {
			rel, ok = strings.CutPrefix(c.name, parent+" ")
		}
		if ok && !c.hidden && !strings.Contains(rel, " ") {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// exitError carries an exit code without printing more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// helpRequested carries the help text a -h asked for: printed on stdout,
// exit code 0.
type helpRequested struct{ text string }

func (h helpRequested) Error() string { return "help requested" }

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// Main runs the CLI and returns the process exit code.
func Main(args []string, builtins map[string]sdk.ServeOpts) int {
	// Built-in plugins are served before anything else touches stdout:
	// go-plugin's handshake owns it.
	if len(args) > 0 && args[0] == "internal-plugin" {
		return servePlugin(args[1:], builtins)
	}
	// Everything the CLI prints passes the redaction choke point: no
	// registered secret reaches a terminal or a log file (core/secret).
	sink := &logSink{base: os.Stderr}
	env := &Env{Stdout: secret.Writer(os.Stdout), Stderr: secret.Writer(os.Stderr), Builtins: builtins, Log: newLogger(sink, isTerminal(os.Stderr)), logSink: sink}
	ctx, stop := signalContext(env.Log)
	defer stop()
	return run(ctx, env, args)
}

func run(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 {
		usage(env.Stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		if len(args) > 1 {
			return runHelp(ctx, env, args[1:])
		}
		usage(env.Stdout)
		return exitOK
	case "-version", "--version":
		if len(args) > 1 {
			fmt.Fprintf(env.Stderr, "polyglot: %s takes no arguments, got %q\n", args[0], args[1:])
			return exitUsage
		}
		printVersion(env.Stdout)
		return exitOK
	case "help":
		return runHelp(ctx, env, args[1:])
	}
	c, rest, ok := find(args)
	if !ok {
		if strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(env.Stderr, "polyglot: unknown flag %q before the command; flags go after it, e.g. `polyglot run DIR %s`\n\n", args[0], args[0])
		} else {
			fmt.Fprintf(env.Stderr, "polyglot: unknown command %q%s\n\n", args[0], suggest(args[0], subcommands("")))
		}
		usage(env.Stderr)
		return exitUsage
	}
	return exitCode(env, c.name, c.run(ctx, env, rest))
}

// exitCode prints err as the user should see it and returns the exit code.
func exitCode(env *Env, name string, err error) int {
	var (
		ee exitError
		ue usageError
		he helpRequested
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &he):
		io.WriteString(env.Stdout, he.text)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "polyglot %s: %s\nRun `polyglot %s -h` for help.\n", name, ue.msg, name)
		return exitUsage
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(env.Stderr, "polyglot: interrupted; everything finished so far is saved, run the command again to continue")
		return exitInterrupted
	default:
		fmt.Fprintf(env.Stderr, "polyglot %s: %v\n", name, err)
		return exitFailure
	}
}

// runHelp is `polyglot help [COMMAND...]`: a command's help is what its
// own -h prints, so the two cannot drift apart.
func runHelp(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 {
		usage(env.Stdout)
		return exitOK
	}
	c, rest, ok := find(args)
	if !ok || len(rest) > 0 {
		fmt.Fprintf(env.Stderr, "polyglot help: no command %q%s\n\n", strings.Join(args, " "), suggest(args[0], subcommands("")))
		usage(env.Stderr)
		return exitUsage
	}
	return exitCode(env, c.name, c.run(ctx, env, []string{"-h"}))
}

// suggest returns ", did you mean X?" for the closest command name.
func suggest(name string, cs []cmd) string {
	best, bestD := "", 3
	for _, c := range cs {
		n := c.name[strings.LastIndex(c.name, " ")+1:]
		if d := levenshtein.Distance(name, n, nil); d < bestD {
			best, bestD = c.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "polyglot: which teacher model should generate your synthetic data, for which language?")
	fmt.Fprintln(w, "\nUsage: polyglot <command> [DIR] [flags]\n\nCommands:")
	for _, c := range subcommands("") {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.synopsis)
	}
	fmt.Fprintln(w, "\nFlags go before or after DIR. `polyglot help <command>` or `polyglot <command> -h`\nshows a command's flags; `polyglot --version` the version.")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted.")
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

// newLogger logs to w: readable lines on a terminal (coloured unless
// NO_COLOR is set), JSON lines elsewhere or with POLYGLOT_LOG_JSON set.
func newLogger(w io.Writer, tty bool) zerolog.Logger {
	lvl := zerolog.InfoLevel
	if s := os.Getenv("POLYGLOT_LOG"); s != "" {
		if l, err := zerolog.ParseLevel(strings.ToLower(s)); err == nil {
			lvl = l
		}
	}
	out := secret.Writer(w) // one Write per event: see secret.Writer
	if tty && os.Getenv("POLYGLOT_LOG_JSON") == "" {
		out = zerolog.ConsoleWriter{Out: secret.Writer(w), TimeFormat: time.Kitchen, NoColor: noColor()}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger()
}

// noColor reports whether the user asked for no colour (https://no-color.org).
func noColor() bool { return os.Getenv("NO_COLOR") != "" }

// useColor reports whether output to w may be coloured: a terminal, and
// NO_COLOR unset.
func useColor(w io.Writer) bool { return isTerminal(w) && !noColor() }

// isTerminal reports whether w is a terminal (progress bars only there).
func isTerminal(w io.Writer) bool { return termFile(w) != nil }

// termFile returns the terminal w writes to, seen through the redacting
// writer, or nil.
func termFile(w io.Writer) *os.File {
	if u, ok := w.(interface{ Unwrap() io.Writer }); ok {
		w = u.Unwrap() // the redacting writer around os.Stderr
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}
