package report

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.json")
	for _, content := range []string{`{"first":1}`, `{"second":2}`} {
		if err := writeAtomic(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("read %q (%v), want %q", got, err, content)
		}
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("%d entries in the folder, want only report.json (no temporary files)", len(ents))
	}
	if err := writeAtomic(filepath.Join(dir, "missing", "x.json"), []byte("{}")); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

// A run killed while writing the report leaves a temporary file; the next
// write of that file removes it (and only files shaped like its own).
func TestWriteAtomicRemovesStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".diagnostics.csv.3270342779")
	other := filepath.Join(dir, ".diagnostics.csv.keep")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeAtomic(filepath.Join(dir, "diagnostics.csv"), []byte("a,b\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("the killed write's temporary file is still there")
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file not made by writeAtomic was removed: %v", err)
	}
}
