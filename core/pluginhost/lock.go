package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// LockFileName is the lock file in a plugin folder.
const LockFileName = "plugins.lock.json"

// LockEntry records one installed binary.
type LockEntry struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	File    string `json:"file"`
	SHA256  string `json:"sha256"`
	Source  string `json:"source,omitempty"`
}

// Lock is the parsed lock file of a plugin folder.
type Lock struct {
	path    string
	Entries []LockEntry `json:"plugins"`
}

// ReadLock reads dir's lock file; a missing file is an empty lock.
func ReadLock(dir string) (*Lock, error) {
	l := &Lock{path: filepath.Join(dir, LockFileName)}
	b, err := os.ReadFile(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, l); err != nil {
		return nil, fmt.Errorf("%s is not a valid lock file: %w (delete it and reinstall the plugins)", l.path, err)
	}
	return l, nil
}

// Lookup finds the entry for a binary file name.
func (l *Lock) Lookup(file string) (LockEntry, bool) {
	for _, e := range l.Entries {
		if e.File == file {
			return e, true
		}
	}
	return LockEntry{}, false
}

// Put adds or replaces the entry for e.File.
func (l *Lock) Put(e LockEntry) {
	for i := range l.Entries {
		if l.Entries[i].File == e.File {
			l.Entries[i] = e
			return
		}
	}
	l.Entries = append(l.Entries, e)
	sort.Slice(l.Entries, func(i, j int) bool { return l.Entries[i].File < l.Entries[j].File })
}

// Write saves the lock file atomically.
func (l *Lock) Write() error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, l.path)
}

// FileSHA256 hashes a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ErrNotLocked: a binary in a plugin folder has no lock entry.
var ErrNotLocked = errors.New("is not in the plugin folder's lock file")

// ChecksumError is returned when a binary does not match its lock entry.
type ChecksumError struct {
	Name, Path, Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin %q refused: %s has SHA-256 %s, but the lock file records %s. The binary changed after it was installed; if you trust the new binary, install it again with `polyglot plugins install --path <binary>`", e.Name, e.Path, e.Got, e.Want)
}

// Verify checks a binary against the lock file of its folder and returns
// the checksum to hand to go-plugin's SecureConfig.
func Verify(b Binary) ([]byte, error) {
	lock, err := ReadLock(filepath.Dir(b.Path))
	if err != nil {
		return nil, err
	}
	e, ok := lock.Lookup(filepath.Base(b.Path))
	if !ok {
		return nil, fmt.Errorf("plugin %q refused: %s %w; install it with `polyglot plugins install --path %s`", b.Name, b.Path, ErrNotLocked, b.Path)
	}
	got, err := FileSHA256(b.Path)
	if err != nil {
		return nil, err
	}
	if got != e.SHA256 {
		return nil, &ChecksumError{Name: b.Name, Path: b.Path, Want: e.SHA256, Got: got}
	}
	if e.Name != b.Name {
		// The lock and the file name must agree on who this is.
		return nil, fmt.Errorf("plugin %q refused: the lock file records %s as plugin %q; install it again with `polyglot plugins install --path <binary>`", b.Name, b.Path, e.Name)
	}
	sum, _ := hex.DecodeString(got)
	return sum, nil
}
