package command

import (
	"context"
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
	register(cmd{name: "plugins", synopsis: "list, describe and install plugins", usage: "plugins <subcommand> [flags]", run: runPlugins})
	register(cmd{name: "plugins list", synopsis: "list the built-in and installed plugins", usage: "plugins list [flags]", run: runPluginsList})
	register(cmd{name: "plugins describe", synopsis: "print a plugin's components and config schema as JSON", usage: "plugins describe NAME|PATH [flags]", run: runPluginsDescribe})
	register(cmd{name: "plugins install", synopsis: "install a plugin binary and record its checksum", usage: "plugins install --path BINARY [flags]", run: runPluginsInstall})
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

// runPlugins is `polyglot plugins` without a known subcommand (find
// dispatches those): help with -h, a usage error otherwise.
func runPlugins(ctx context.Context, env *Env, args []string) error {
	pos, err := parseArgs(newFlags("plugins"), args, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("which subcommand? list, describe or install")
	}
	return usagef("unknown subcommand %q%s", pos[0], suggest(pos[0], subcommands("plugins")))
}

func pluginDirFlag(fs *flag.FlagSet) *string {
	return fs.String("plugin-dir", pluginhost.DefaultDir(), "plugin folder")
}

func runPluginsList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("plugins list")
	dir := pluginDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	return pluginsList(env, *dir, *asJSON)
}

func runPluginsDescribe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("plugins describe")
	dir := pluginDirFlag(fs)
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("which plugin? give its name or the path of its binary")
	}
	return pluginsDescribe(ctx, env, *dir, pos[0])
}

func runPluginsInstall(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("plugins install")
	dir := pluginDirFlag(fs)
	path := fs.String("path", "", "the plugin binary to install (required)")
	source := fs.String("source", "", "where the binary comes from, recorded in the lock file")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if *path == "" {
		return usagef("--path BINARY is required")
	}
	e, err := pluginhost.Install(ctx, *dir, *path, *source)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "installed %s %s as %s (sha256 %s)\n", e.Name, e.Version, filepath.Join(*dir, e.File), e.SHA256)
	if _, ok := env.Builtins[e.Name]; ok {
		fmt.Fprintf(env.Stderr, "note: %q is also a built-in plugin; runs refuse the installed one unless the spec says required_plugins { %s = { source = \"...\", replaces_builtin = true } }\n", e.Name, e.Name)
	}
	return nil
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
			switch {
			case errors.As(err, &ce):
				st = "CHECKSUM MISMATCH"
			case errors.Is(err, pluginhost.ErrNotLocked):
				st = "not in lock file"
			default:
				st = "refused: " + err.Error()
			}
		}
		if _, builtin := env.Builtins[b.Name]; builtin && st == "ok" {
			st = "named like a built-in: used only with replaces_builtin"
		}
		rows = append(rows, pluginRow{Name: b.Name, Version: b.VersionString(), Kind: "installed", Path: b.Path, Status: st})
	}
	if asJSON {
		if rows == nil {
			rows = []pluginRow{}
		}
		return writeJSON(env.Stdout, struct {
			FormatVersion int         `json:"format_version"`
			Plugins       []pluginRow `json:"plugins"`
		}{jsonFormatVersion, rows})
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
	return writeJSON(env.Stdout, struct {
		FormatVersion int `json:"format_version"`
		*pluginhost.DescribeOutput
	}{jsonFormatVersion, d})
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
