package pluginhost

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/go-version"
)

// Prefix starts every plugin binary's file name.
const Prefix = "polyglot-plugin-"

// Binary is a plugin binary found in a plugin folder.
type Binary struct {
	Name    string           `json:"name"`
	Version *version.Version `json:"-"`
	Path    string           `json:"path"`
}

// VersionString is the binary's version, or "" when its name carries none.
func (b Binary) VersionString() string {
	if b.Version == nil {
		return ""
	}
	return b.Version.String()
}

// ParseFileName splits polyglot-plugin-NAME[_vVERSION][.exe].
func ParseFileName(base string) (name string, v *version.Version, ok bool) {
	base = strings.TrimSuffix(base, ".exe")
	if !strings.HasPrefix(base, Prefix) {
		return "", nil, false
	}
	rest := strings.TrimPrefix(base, Prefix)
	if i := strings.LastIndex(rest, "_v"); i > 0 {
		if pv, err := version.NewVersion(rest[i+2:]); err == nil {
			return rest[:i], pv, true
		}
	}
	if rest == "" {
		return "", nil, false
	}
	return rest, nil, true
}

// Discover lists the plugin binaries in dirs (missing folders are skipped),
// newest version first per name.
func Discover(dirs ...string) ([]Binary, error) {
	var out []Binary
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading plugin folder %s: %w", dir, err)
		}
		for _, e := range entries {
			name, v, ok := ParseFileName(e.Name())
			if !ok || e.IsDir() {
				continue
			}
			info, err := e.Info()
			if err != nil || info.Mode()&0o111 == 0 {
				continue
			}
			out = append(out, Binary{Name: name, Version: v, Path: filepath.Join(dir, e.Name())})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		vi, vj := out[i].Version, out[j].Version
		switch {
		case vi == nil:
			return false
		case vj == nil:
			return true
		}
		return vi.GreaterThan(vj)
	})
	return out, nil
}

// Select picks the newest binary called name that satisfies constraint
// ("" accepts any).
func Select(bins []Binary, name, constraint string) (Binary, error) {
	var cs version.Constraints
	if constraint != "" {
		var err error
		cs, err = version.NewConstraint(constraint)
		if err != nil {
			return Binary{}, fmt.Errorf("version constraint %q for plugin %q: %w", constraint, name, err)
		}
	}
	var seen []string
	for _, b := range bins {
		if b.Name != name {
			continue
		}
		seen = append(seen, b.VersionString())
		if cs == nil || (b.Version != nil && cs.Check(b.Version)) {
			return b, nil
		}
	}
	if len(seen) == 0 {
		return Binary{}, fmt.Errorf("no plugin named %q is installed", name)
	}
	return Binary{}, fmt.Errorf("plugin %q is installed in versions %s, none of which satisfies %q", name, strings.Join(seen, ", "), constraint)
}

// DefaultDir is the plugin folder used when none is given:
// $POLYGLOT_PLUGIN_DIR, else ~/.polyglot/plugins.
func DefaultDir() string {
	if d := os.Getenv("POLYGLOT_PLUGIN_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".polyglot-plugins"
	}
	return filepath.Join(home, ".polyglot", "plugins")
}
