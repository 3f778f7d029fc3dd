package spec

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

var errorMarker = regexp.MustCompile(`#\s*ERROR:\s*(.+?)\s*$`)

type marker struct {
	line    int
	summary string
}

func readMarkers(t *testing.T, path string) []marker {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []marker
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if m := errorMarker.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, marker{line: n, summary: m[1]})
		}
	}
	return out
}

// noEnv is an environment with nothing set, so tests do not depend on the
// machine's variables.
func noEnv(string) (string, bool) { return "", false }

// TestInvalidSpecs loads each testdata/specs/invalid/*.hcl on its own and
// expects, for every `# ERROR: summary` marker, an error diagnostic whose
// summary contains the text and whose subject starts on that line of that
// file. Errors on unmarked lines fail the test too: each file has exactly
// the mistakes it marks.
func TestInvalidSpecs(t *testing.T) {
	paths, err := filepath.Glob("../../testdata/specs/invalid/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 32 {
		t.Fatalf("want at least 32 invalid specs, found %d", len(paths))
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".hcl"), func(t *testing.T) {
			markers := readMarkers(t, path)
			if len(markers) == 0 {
				t.Fatalf("%s has no # ERROR: marker", path)
			}
			e, diags := LoadFiles([]string{path}, LoadOptions{Env: noEnv})
			if !diags.HasErrors() {
				t.Fatalf("loaded without errors; want %v", markers)
			}
			var sb strings.Builder
			e.WriteDiagnostics(&sb, diags, false)
			for _, m := range markers {
				if !hasDiag(diags, path, m) {
					t.Errorf("no error with summary containing %q on line %d; got:\n%s", m.summary, m.line, sb.String())
				}
			}
			for _, d := range diags {
				if d.Severity != hcl.DiagError {
					continue
				}
				onMarked := false
				for _, m := range markers {
					if d.Subject != nil && d.Subject.Start.Line == m.line {
						onMarked = true
					}
				}
				if !onMarked {
					t.Errorf("unexpected extra error: %s", d.Error())
				}
				if d.Detail == "" {
					t.Errorf("error %q has no detail saying what to do", d.Summary)
				}
			}
		})
	}
}

func hasDiag(diags hcl.Diagnostics, path string, m marker) bool {
	for _, d := range diags {
		if d.Severity != hcl.DiagError || d.Subject == nil {
			continue
		}
		if d.Subject.Filename == path && d.Subject.Start.Line == m.line && strings.Contains(d.Summary, m.summary) {
			return true
		}
	}
	return false
}

// TestSuggestions checks the "did you mean" part of selected errors.
func TestSuggestions(t *testing.T) {
	cases := []struct {
		file string
		want string
	}{
		{"unknown_block", `Did you mean "teacher"?`},
		{"unknown_attribute_typo", `Did you mean "family"?`},
		{"unknown_ref_root", `Did you mean "teacher"?`},
		{"bad_control_kind", `Did you mean "scramble_words"?`},
		{"control_unknown_seeds", `Did you mean "human"?`},
		{"control_unknown_seeds_ref", `Did you mean "human"?`},
		{"bad_pgr", `Did you mean "ratio_then_mean"?`},
		{"unknown_function", `Did you mean "upper"?`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, diags := LoadFiles([]string{filepath.Join("../../testdata/specs/invalid", tc.file+".hcl")}, LoadOptions{Env: noEnv})
			for _, d := range diags {
				if strings.Contains(d.Detail, tc.want) {
					return
				}
			}
			t.Errorf("no detail contains %q: %v", tc.want, diags)
		})
	}
}
