package command

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/polyglot-teachers/polyglot/core/pluginhost"
)

func init() {
	register(cmd{name: "plugins", synopsis: "list, describe and install plugins", run: runPlugins})
}

func builtinNames(env *Env) []string {
	names := make([]string, 0, len(env.Builtins))
	for n := range env.Builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newManager(env *Env, pluginDir, workDir string, constraints map[string]string) (*pluginhost.Manager, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the polyglot binary to run built-in plugins: %w", err)
	}
	dirs := []string{pluginDir}
	if workDir != "" {
		// An experiment may carry its own plugins next to its spec.
		dirs = append([]string{filepath.Join(workDir, "plugins")}, dirs...)
	}
	return &pluginhost.Manager{Dirs: dirs, Builtins: builtinNames(env), SelfExe: self, Constraints: constraints, WorkDir: workDir, Log: env.Log}, nil
}

func runPlugins(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: polyglot plugins list | describe NAME|PATH | install --path BINARY")
	}
	fs := flag.NewFlagSet("plugins "+args[0], flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dir := fs.String("plugin-dir", pluginhost.DefaultDir(), "plugin folder")
	path := fs.String("path", "", "install: the plugin binary to install")
	source := fs.String("source", "", "install: where the binary comes from, recorded in the lock file")
	asJSON := fs.Bool("json", false, "list: print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "list":
		return pluginsList(env, *dir, *asJSON)
	case "describe":
		if fs.NArg() != 1 {
			return errors.New("usage: polyglot plugins describe NAME|PATH")
		}
		return pluginsDescribe(ctx, env, *dir, fs.Arg(0))
	case "install":
		if *path == "" {
			return errors.New("usage: polyglot plugins install --path BINARY [--plugin-dir DIR]")
		}
		e, err := pluginhost.Install(ctx, *dir, *path, *source)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "installed %s %s as %s (sha256 %s)\n", e.Name, e.Version, filepath.Join(*dir, e.File), e.SHA256)
		return nil
	}
	return fmt.Errorf("unknown plugins subcommand %q: use list, describe or install", args[0])
}

type pluginRow struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	Path    string `json:"path"`
	Status  string `json:"status"`
}

func pluginsList(env *Env, dir string, asJSON bool) error {
	var rows []pluginRow
	for _, n := range builtinNames(env) {
		rows = append(rows, pluginRow{Name: n, Version: env.Builtins[n].Version, Kind: "built-in", Path: "(polyglot)", Status: "ok"})
	}
	bins, err := pluginhost.Discover(dir)
	if err != nil {
		return err
	}
	for _, b := range bins {
		st := "ok"
		if _, err := pluginhost.Verify(b); err != nil {
			var ce *pluginhost.ChecksumError
			if errors.As(err, &ce) {
				st = "CHECKSUM MISMATCH"
			} else {
				st = "not in lock file"
			}
		}
		rows = append(rows, pluginRow{Name: b.Name, Version: b.VersionString(), Kind: "installed", Path: b.Path, Status: st})
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tKIND\tSTATUS\tPATH")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Version, r.Kind, r.Status, r.Path)
	}
	return tw.Flush()
}

func pluginsDescribe(ctx context.Context, env *Env, dir, target string) error {
	var d *pluginhost.DescribeOutput
	var err error
	switch {
	case env.Builtins[target].Name != "":
		self, e := os.Executable()
		if e != nil {
			return e
		}
		d, err = pluginhost.DescribeBinary(ctx, self, "internal-plugin", target)
	case fileExists(target):
		d, err = pluginhost.DescribeBinary(ctx, target)
	default:
		bins, e := pluginhost.Discover(dir)
		if e != nil {
			return e
		}
		b, e := pluginhost.Select(bins, target, "")
		if e != nil {
			return e
		}
		d, err = pluginhost.DescribeBinary(ctx, b.Path)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
