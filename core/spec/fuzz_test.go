package spec

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary sources (seeded with every fixture) to the
// loader: it must never panic, and every error must say where it is or be
// a whole-spec error.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../../testdata/specs/invalid/*.hcl")
	more, _ := filepath.Glob("../../testdata/specs/valid/*/*.hcl")
	for _, p := range append(seeds, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src string) {
		p := filepath.Join(dir, "spec.hcl")
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		e, diags := LoadFiles([]string{p}, LoadOptions{Env: noEnv})
		if e == nil {
			t.Fatal("nil experiment")
		}
		for _, d := range diags {
			if d.Summary == "" {
				t.Errorf("diagnostic without summary: %#v", d)
			}
		}
		_ = e.String()
	})
}
