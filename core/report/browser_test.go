package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium finds a headless browser, skipping the test (or failing it when
// POLYGLOT_REQUIRE_TOOLS=1) when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("POLYGLOT_REQUIRE_TOOLS") == "1" {
		t.Fatal("chromium is not installed and POLYGLOT_REQUIRE_TOOLS=1; install it with `apt-get install -y chromium`")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium); skipping the rendered-DOM test")
	return ""
}

// render loads a file in headless Chromium and returns the rendered DOM and the browser's log.
func render(t *testing.T, bin, file string) (dom, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	abs, _ := filepath.Abs(file)
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+abs)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium failed: %v\n%s", err, errb.String())
	}
	return out.String(), errb.String()
}

// consoleProblems returns the browser log lines that report console output or script errors.
var consoleLine = regexp.MustCompile(`(?i)CONSOLE|Uncaught`)

func consoleProblems(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if consoleLine.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

func TestRenderedInChromium(t *testing.T) {
	bin := chromium(t)
	// The detector must see errors, or the real check below could never fail.
	bad := filepath.Join(t.TempDir(), "bad.html")
	os.WriteFile(bad, []byte(`<!DOCTYPE html><html><body><script>console.error("boom"); undefinedFunction();</script></body></html>`), 0o644)
	if _, log := render(t, bin, bad); len(consoleProblems(log)) == 0 {
		t.Fatalf("a page with console errors produced no console lines in the log; cannot check report.html:\n%s", log)
	}

	dir := t.TempDir()
	m := model(t, fullCfg)
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	dom, log := render(t, bin, filepath.Join(dir, "report.html"))
	if p := consoleProblems(log); len(p) > 0 {
		t.Errorf("report.html logged console messages:\n%s", strings.Join(p, "\n"))
	}
	for _, id := range []string{"heatmap", "scree", "scale", "inex"} {
		if !strings.Contains(dom, `<svg id="`+id+`"`) {
			t.Errorf("rendered DOM lacks the %s plot", id)
		}
	}
	// The sorting script ran (it marks headers) — and the tables were there before it did.
	if !strings.Contains(dom, `class="sortable"`) || !strings.Contains(dom, m.Result.Teachers[0].Teacher) {
		t.Error("rendered DOM lacks the ranking table")
	}
	if strings.Count(dom, "<circle") < len(m.Result.Cells) {
		t.Errorf("intrinsic/extrinsic scatter has fewer points than cells")
	}
}
