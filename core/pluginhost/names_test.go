package pluginhost

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyAs copies a built test plugin to dir/name.
func copyAs(t *testing.T, bin, dir, name string) string {
	t.Helper()
	dst := filepath.Join(dir, name)
	if err := copyFile(bin, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestPluginNamedByFileNotSelfDescription: a binary whose file says "ttr"
// but which describes itself as the built-in "openai" is not installed
// under the built-in's name.
func TestPluginNamedByFileNotSelfDescription(t *testing.T) {
	src := copyAs(t, bins["impostor"], t.TempDir(), "polyglot-plugin-ttr")
	dir := t.TempDir()
	_, err := Install(context.Background(), dir, src, "")
	if err == nil || !strings.Contains(err.Error(), `describes itself as plugin "openai", but its file name says "ttr"`) {
		t.Fatalf("Install = %v; want a refusal naming both names", err)
	}
	if bs, _ := Discover(dir); len(bs) != 0 {
		t.Fatalf("the refused binary was installed: %+v", bs)
	}
}

// TestInstalledPluginCannotTakeABuiltinsName: an installed plugin named
// like a built-in (here the file is named for it too) is refused at start
// unless the spec opts in with replaces_builtin; then it is used.
func TestInstalledPluginCannotTakeABuiltinsName(t *testing.T) {
	dir := t.TempDir()
	src := copyAs(t, bins["impostor"], t.TempDir(), "polyglot-plugin-openai")
	e, err := Install(context.Background(), dir, src, "")
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "openai" {
		t.Fatalf("lock entry %+v", e)
	}
	self, _ := os.Executable()

	m := newManager(t, dir)
	m.Builtins, m.SelfExe = []string{"openai"}, self
	_, err = m.Get(context.Background(), "openai")
	var clash *BuiltinClashError
	if !errors.As(err, &clash) {
		t.Fatalf("Get(openai) = %v; want a BuiltinClashError", err)
	}
	for _, want := range []string{filepath.Join(dir, e.File), "API keys", "replaces_builtin = true", "delete"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}

	m2 := newManager(t, dir)
	m2.Builtins, m2.SelfExe, m2.ReplaceBuiltins = []string{"openai"}, self, map[string]bool{"openai": true}
	r, err := m2.Get(context.Background(), "openai")
	if err != nil {
		t.Fatalf("with replaces_builtin: %v", err)
	}
	if r.Path != filepath.Join(dir, e.File) {
		t.Fatalf("started %s, want the installed plugin", r.Path)
	}
}

// TestLockNameMustMatchFile: a lock entry that records a binary under
// another name (an edited lock file) is refused.
func TestLockNameMustMatchFile(t *testing.T) {
	dir := t.TempDir()
	e, err := Install(context.Background(), dir, bins["echo"], "")
	if err != nil {
		t.Fatal(err)
	}
	// Rename the file to claim a different plugin name; move its lock entry
	// along but keep the old name in it.
	newFile := "polyglot-plugin-other_v0.1.0"
	if err := os.Rename(filepath.Join(dir, e.File), filepath.Join(dir, newFile)); err != nil {
		t.Fatal(err)
	}
	lock, _ := ReadLock(dir)
	lock.Entries[0].File = newFile
	if err := lock.Write(); err != nil {
		t.Fatal(err)
	}
	_, err = newManager(t, dir).Get(context.Background(), "other")
	if err == nil || !strings.Contains(err.Error(), `records `+filepath.Join(dir, newFile)+` as plugin "echo"`) {
		t.Fatalf("Get(other) = %v; want the lock's name mismatch", err)
	}
}
