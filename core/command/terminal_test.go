package command_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"

	"github.com/polyglot-teachers/polyglot/core/command"
)

// onTerminal runs polyglot with stdout and stderr on a pseudo-terminal of
// 40 rows and 120 columns and returns what the terminal received.
func onTerminal(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(polyglotBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	_, err = io.Copy(&out, f)
	var pe *os.PathError
	if err != nil && !(errors.As(err, &pe) && errors.Is(pe.Err, syscall.EIO)) { // EIO: the child closed the terminal
		t.Fatal(err)
	}
	code := 0
	var ee *exec.ExitError
	if err := cmd.Wait(); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// TestTerminalOutput runs polyglot on a real pseudo-terminal: run draws
// one bar per stage below its log lines, in colour unless NO_COLOR is
// set; spec diagnostics honour NO_COLOR too; off a terminal there are
// no bars and no escapes.
func TestTerminalOutput(t *testing.T) {
	v := cliVars(t)
	for _, tc := range []struct {
		name    string
		noColor bool
	}{{"colour", false}, {"NO_COLOR", true}} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"NO_COLOR="}
			if tc.noColor {
				env = []string{"NO_COLOR=1"}
			}
			out, code := onTerminal(t, env, "run", v["DIR"], "--plugin-dir", v["PD"], "-var", "store="+t.TempDir())
			if code != 0 {
				t.Fatalf("run: exit %d\n%s", code, out)
			}
			if got := sgr.MatchString(out); got == tc.noColor {
				t.Errorf("colour escapes present: %v, want %v", got, !tc.noColor)
			}
			lines := command.Screen(strings.ReplaceAll(sgr.ReplaceAllString(out, ""), "\r\n", "\n"))
			text := strings.Join(lines, "\n")
			bars := 0
			last := 0
			for i, l := range lines {
				if regexp.MustCompile(`^(generate|metrics|train|evaluate|score) +(\d+)/(\d+) \[`).MatchString(l) {
					bars++
					last = i
				}
				if (strings.Contains(l, "INF ") || strings.Contains(l, "WRN ")) && strings.Contains(l, "/s ") {
					t.Errorf("a log line shares a line with a bar: %q", l)
				}
			}
			for _, want := range []string{`generate +12/12 \[`, `metrics +4/4 \[`, `score +1/1 \[`} {
				if n := len(regexp.MustCompile(`(?m)^`+want).FindAllString(text, -1)); n != 1 {
					t.Errorf("bar %q shown %d times:\n%s", want, n, text)
				}
			}
			done := -1
			for i, l := range lines {
				if strings.HasPrefix(l, "Done. Report: ") {
					done = i
				}
			}
			if bars != 5 || done < last {
				t.Errorf("want the five stage bars, then the report line below them:\n%s", text)
			}
			if i := strings.Index(text, "report written"); i < 0 || i > strings.Index(text, "\ngenerate ") {
				t.Errorf("the log lines are not above the bars:\n%s", text)
			}
		})
	}

	bad := filepath.Join(repoRoot, "testdata/specs/invalid/bad_duration.hcl")
	if out, code := onTerminal(t, []string{"NO_COLOR="}, "validate", bad); code != 1 || !sgr.MatchString(out) {
		t.Errorf("diagnostics on a terminal: exit %d, coloured %v:\n%q", code, sgr.MatchString(out), out)
	}
	if out, code := onTerminal(t, []string{"NO_COLOR=1"}, "validate", bad); code != 1 || sgr.MatchString(out) || !strings.Contains(out, "bad_duration.hcl:") {
		t.Errorf("diagnostics with NO_COLOR: exit %d, coloured %v:\n%q", code, sgr.MatchString(out), out)
	}

	// Off a terminal: log lines, no bars, no escapes.
	cmd := exec.Command(polyglotBin, "run", v["DIR"], "--plugin-dir", v["PD"], "-var", "store="+t.TempDir())
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("\x1b[")) || bytes.Contains(out, []byte("[===")) || !bytes.Contains(out, []byte(`"message":"stage started"`)) {
		t.Errorf("off a terminal: want JSON log lines without bars or escapes:\n%s", out)
	}
}
