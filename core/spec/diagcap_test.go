package spec

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepeatedDiagnosticsAreCapped: 5,000 bad language tags on one line
// printed 291 MB (each error repeated the whole line); now the first few
// of a kind are printed, windowed, and one line counts the rest.
func TestRepeatedDiagnosticsAreCapped(t *testing.T) {
	const n = 5000
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("%q", fmt.Sprintf("xx-bad%d", i))
	}
	src := "experiment \"x\" {\n  languages = [" + strings.Join(tags, ",") + "]\n}\n"
	p := filepath.Join(t.TempDir(), "main.hcl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	e, diags := LoadFiles([]string{p}, LoadOptions{Env: noEnv})
	var bad int
	for _, d := range diags {
		if d.Summary == "Invalid language tag" {
			bad++
		}
	}
	if bad != n {
		t.Fatalf("%d invalid-tag diagnostics, want %d (all of them are still reported to callers)", bad, n)
	}
	var out bytes.Buffer
	e.WriteDiagnostics(&out, diags, false)
	if out.Len() > 16<<10 {
		t.Errorf("printed %d bytes for %d diagnostics of one kind; want under 16 KiB", out.Len(), n)
	}
	if got := out.String(); !strings.Contains(got, fmt.Sprintf("error: %d more errors like this: Invalid language tag (through %s:2:", n-maxPerKind, p)) {
		t.Errorf("no summary of the rest:\n%s", tail(got, 600))
	}
	if strings.Count(out.String(), "error: Invalid language tag\n") != maxPerKind {
		t.Errorf("want %d invalid-tag errors in full", maxPerKind)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, " | ") && len([]rune(line)) > maxSnippet+20 {
			t.Errorf("line of %d characters printed", len([]rune(line)))
			break
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
