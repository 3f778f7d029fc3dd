package command_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateRefusesReadingOutsideTheSpecFolder: file("../...") read any
// file (/etc/shadow in the probe) and stored it. validate now refuses at
// the line, says how to allow it, and --allow-read allows it.
func TestValidateRefusesReadingOutsideTheSpecFolder(t *testing.T) {
	root := t.TempDir()
	specDir, outside := filepath.Join(root, "exp"), filepath.Join(root, "private")
	for _, d := range []string{specDir, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "shadow"), []byte("root:$6$secret-hash:19000::::::"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := `experiment "x" {
  languages = ["de"]
}

locals {
  leak = file("../private/shadow")
}
`
	if err := os.WriteFile(filepath.Join(specDir, "main.hcl"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	r := polyglot(t, specDir, "validate", "--plugin-dir", t.TempDir(), ".")
	if r.code == 0 {
		t.Fatalf("validate accepted a spec reading outside its folder:\n%s", r.stdout)
	}
	for _, want := range []string{"main.hcl:6:", "outside the experiment folder", `allow_read = ["../private"]`, "--allow-read"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr+r.stdout, "secret-hash") {
		t.Error("the file's contents were printed")
	}
	r = polyglot(t, specDir, "validate", "--plugin-dir", t.TempDir(), "--allow-read", outside, ".")
	if strings.Contains(r.stderr, "outside the experiment folder") {
		t.Errorf("--allow-read did not allow the folder:\n%s", r.stderr)
	}
}
