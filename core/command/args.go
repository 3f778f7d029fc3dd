package command

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags returns the flag set of the registered command name, whose -h
// prints that command's usage, help text, flags and subcommands.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() { writeHelp(fs.Output(), name, fs) }
	return fs
}

func writeHelp(w io.Writer, name string, fs *flag.FlagSet) {
	c, _ := lookup(name)
	u := c.usage
	if u == "" {
		u = name
	}
	fmt.Fprintf(w, "Usage: polyglot %s\n", u)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.help, "\n"))
	} else if c.synopsis != "" {
		fmt.Fprintf(w, "\n%s.\n", strings.ToUpper(c.synopsis[:1])+c.synopsis[1:])
	}
	if subs := subcommands(name); len(subs) > 0 {
		fmt.Fprintln(w, "\nSubcommands:")
		for _, s := range subs {
			fmt.Fprintf(w, "  %-10s %s\n", strings.TrimPrefix(s.name, name+" "), s.synopsis)
		}
	}
	hasFlags := false
	if fs != nil {
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	}
	if hasFlags {
		fmt.Fprintln(w, "\nFlags (before or after the arguments; -name and --name are the same):")
		out := fs.Output()
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
}

// parseArgs parses args into fs with flags allowed anywhere among the
// positional arguments (the flag package alone stops at the first
// positional and would silently ignore every flag after it), and returns
// the positional arguments. Everything after "--" is positional. More than
// max positional arguments is a usage error: an argument is never ignored.
// -h and --help return helpRequested with the command's help.
func parseArgs(fs *flag.FlagSet, args []string, max int) ([]string, error) {
	var msgs bytes.Buffer
	fs.SetOutput(&msgs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				var help bytes.Buffer
				writeHelp(&help, fs.Name(), fs)
				return nil, helpRequested{help.String()}
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) > max {
		switch max {
		case 0:
			return nil, usagef("takes no arguments, got %s", quoteAll(pos))
		case 1:
			return nil, usagef("takes one argument, got %d: %s (flags go before or after it)", len(pos), quoteAll(pos))
		default:
			return nil, usagef("takes at most %d arguments, got %d: %s", max, len(pos), quoteAll(pos))
		}
	}
	return pos, nil
}

// parseDir parses the arguments of a command that takes one experiment
// folder, "." when none is given.
func parseDir(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return "", err
	}
	if len(pos) == 0 {
		return ".", nil
	}
	return pos[0], nil
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, " ")
}
