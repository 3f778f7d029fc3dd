package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/core/score"
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

// probe is appended to a copy of the report: after the page's own script ran, it
// measures the layout at the window's width, drives the example browser and writes
// what it found as JSON into <pre id="probe">, which --dump-dom returns.
const probe = `<script>
(function () {
  var out = {}, de = document.documentElement;
  out.scrollWidth = de.scrollWidth; out.clientWidth = de.clientWidth;
  var chart = document.getElementById("ranking-chart"), heat = document.getElementById("heatmap");
  out.chartTop = chart ? chart.getBoundingClientRect().top : -1;
  out.heatTop = heat ? heat.getBoundingClientRect().top : -1;
  out.innerHeight = window.innerHeight;
  out.labels = document.querySelectorAll("#ex-list .lbl").length;
  out.items0 = document.querySelectorAll("#ex-list .exitem").length;
  out.count0 = document.getElementById("ex-count").textContent;
  var sel = document.getElementById("ex-teacher");
  sel.value = "1"; sel.dispatchEvent(new Event("change"));
  out.teacherCells = Array.from(document.querySelectorAll("#ex-list h4")).map(function (h) { return h.textContent; });
  out.items1 = document.querySelectorAll("#ex-list .exitem").length;
  var more = document.querySelector("#ex-list .excell button.more");
  out.more = more ? more.textContent : "";
  if (more) more.click();
  out.items2 = document.querySelectorAll("#ex-list .exitem").length;
  sel.value = ""; sel.dispatchEvent(new Event("change"));
  var q = document.getElementById("ex-search");
  q.value = "NEEDLE"; q.dispatchEvent(new Event("input"));
  out.search = Array.from(document.querySelectorAll("#ex-list pre.ex")).map(function (p) { return p.textContent; });
  out.rtl = []; out.ltr = 0;
  document.querySelectorAll("pre.ex").forEach(function (p) {
    if (/[\u0600-\u06FF]/.test(p.textContent)) out.rtl.push(getComputedStyle(p).direction + ":" + p.getAttribute("dir"));
    else if (getComputedStyle(p).direction === "ltr") out.ltr++;
  });
  var order = document.getElementById("ex-order");
  q.value = ""; q.dispatchEvent(new Event("input"));
  var m = document.getElementById("ex-metric"); m.value = "0"; m.dispatchEvent(new Event("change"));
  order.value = "asc"; order.dispatchEvent(new Event("change"));
  out.asc = Array.from(document.querySelectorAll("#ex-list .excell:first-child .exitem > .muted")).map(function (d) { return d.textContent; });
  var pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>`

type probeResult struct {
	ScrollWidth, ClientWidth int
	ChartTop, HeatTop        float64
	InnerHeight              float64
	RTL                      []string
	LTR                      int
	Labels                   int
	Items0, Items1, Items2   int
	Count0                   string
	TeacherCells             []string
	More                     string
	Search                   []string
	Asc                      []string
}

// artefacts is where the test keeps its screenshots: $POLYGLOT_ARTIFACTS when set
// (CI collects it), else a temporary folder that is logged.
func artefacts(t *testing.T) string {
	dir := os.Getenv("POLYGLOT_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, "report")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func chromiumArgs(t *testing.T, extra ...string) []string {
	return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0", "--window-size=1280,900"}, extra...)
}

func runChromium(t *testing.T, bin string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium failed: %v\n%s", err, errb.String())
	}
	return out.String(), errb.String()
}

// TestReportAtFirstGlance opens the report as a reader would, at 1,280 px: the ranking
// chart and the heatmap are on the first screen, the page never scrolls sideways,
// Arabic model output runs right to left, the example browser filters, loads more on
// request and searches, and a screenshot of the first screen is kept.
func TestReportAtFirstGlance(t *testing.T) {
	bin := chromium(t)
	m := model(t, fullCfg)
	arabic := "ما هي عاصمة مصر؟ NEEDLE"
	m.Study.Examples = append(m.Study.Examples,
		score.Example{Teacher: m.Study.Examples[0].Teacher, Language: "ar", Metric: m.Study.Examples[0].Metric, ID: "ar-rtl", Value: 1, Prompt: arabic, Response: "القاهرة هي العاصمة."},
		score.Example{Teacher: m.Study.Examples[0].Teacher, Language: "de", Metric: m.Study.Examples[0].Metric, ID: "evil", Value: 2,
			Prompt: "NEEDLE <script>alert(1)</script>", Response: strings.Repeat("averyveryverylongwordwithoutspaces", 60)})
	// A wide study: many languages and α values must not widen the page.
	m.Result.Settings.Alphas = nil
	for i := range 41 {
		m.Result.Settings.Alphas = append(m.Result.Settings.Alphas, float64(i)/40)
	}
	for i := range 30 {
		m.Result.Languages = append(m.Result.Languages, fmt.Sprintf("l%02d", i))
	}
	dir := t.TempDir()
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "report.html")
	html := read(t, dir, "report.html")
	probed := filepath.Join(dir, "probed.html")
	if err := os.WriteFile(probed, []byte(strings.Replace(html, "</body>", probe+"</body>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, log := runChromium(t, bin, chromiumArgs(t, "--dump-dom", "file://"+probed)...)
	if p := consoleProblems(log); len(p) > 0 {
		t.Errorf("report.html logged console messages:\n%s", strings.Join(p, "\n"))
	}
	i := strings.Index(dom, `<pre id="probe">`)
	if i < 0 {
		t.Fatalf("the probe did not run (a script error stopped it?)\n%s", log)
	}
	raw := dom[i+len(`<pre id="probe">`):]
	raw = raw[:strings.Index(raw, "</pre>")]
	raw = strings.NewReplacer("&quot;", `"`, "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(raw)
	var r probeResult
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("probe output: %v\n%s", err, raw)
	}
	t.Logf("probe: %+v", r)
	if r.ClientWidth < 1200 || r.ScrollWidth > r.ClientWidth {
		t.Errorf("the page scrolls sideways at 1,280 px: scrollWidth %d > clientWidth %d", r.ScrollWidth, r.ClientWidth)
	}
	if r.ChartTop < 0 || r.ChartTop > r.InnerHeight/2 || r.HeatTop < 0 || r.HeatTop > r.InnerHeight {
		t.Errorf("the ranking chart (top %v) and heatmap (top %v) are not on the first screen (%v px)", r.ChartTop, r.HeatTop, r.InnerHeight)
	}
	if len(r.RTL) == 0 {
		t.Error("the Arabic example was not rendered")
	}
	for _, d := range r.RTL {
		if d != "rtl:auto" {
			t.Errorf("Arabic model output renders as %q, want rtl with dir=auto", d)
		}
	}
	if r.LTR != 2 || r.Labels != 2*r.Items0 {
		t.Errorf("%d left-to-right examples, %d labels for %d examples (want prompt and response labelled)", r.LTR, r.Labels, r.Items0)
	}
	if r.Items0 == 0 || !strings.Contains(r.Count0, "examples in") {
		t.Errorf("the example browser shows nothing: %d items, %q", r.Items0, r.Count0)
	}
	teacher := m.Study.Examples[0].Teacher // index 0 in the data; the probe picks index 1
	for _, h := range r.TeacherCells {
		if strings.Contains(h, " "+teacher+" /") {
			t.Errorf("filtered by another teacher, the browser still shows %q", h)
		}
	}
	if len(r.TeacherCells) == 0 || r.Items1 >= r.Items0 {
		t.Errorf("the teacher filter: %d cells, %d items (unfiltered %d)", len(r.TeacherCells), r.Items1, r.Items0)
	}
	if !strings.HasPrefix(r.More, "show ") || r.Items2 <= r.Items1 {
		t.Errorf("'show more' (%q) did not load more examples: %d → %d", r.More, r.Items1, r.Items2)
	}
	if len(r.Search) != 4 || !strings.Contains(strings.Join(r.Search, "\n"), arabic) || !strings.Contains(strings.Join(r.Search, "\n"), "<script>alert(1)</script>") {
		t.Errorf("search for NEEDLE: %q", r.Search)
	}
	var vals []float64
	for _, s := range r.Asc {
		var f float64
		fmt.Sscanf(s[strings.LastIndex(s, "= ")+2:], "%g", &f)
		vals = append(vals, f)
	}
	if len(vals) < 2 || !sort.Float64sAreSorted(vals) {
		t.Errorf("ordered low to high, the first cell shows %v", r.Asc)
	}

	// The first screen, as a picture for the reviewer.
	out := artefacts(t)
	shot := filepath.Join(out, "first-screen.png")
	runChromium(t, bin, chromiumArgs(t, "--screenshot="+shot, "file://"+page)...)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 900 {
		t.Errorf("screenshot is %v, want 1280×900", b)
	}
	// The charts put colour on the first screen; a blank or text-only page has none.
	coloured := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 3 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			if max(r, g, b)-min(r, g, b) > 0x3000 {
				coloured++
			}
		}
	}
	if coloured < 200 {
		t.Errorf("the first screen has almost no colour (%d sampled pixels): the charts are missing", coloured)
	}
	t.Logf("screenshot of the first screen: %s", shot)

	// It prints: a PDF of several pages (the print style hides the controls).
	pdf := filepath.Join(out, "report.pdf")
	runChromium(t, bin, chromiumArgs(t, "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+page)...)
	b, err := os.ReadFile(pdf)
	if err != nil || !bytes.HasPrefix(b, []byte("%PDF")) {
		t.Fatalf("printing the report gave no PDF: %v", err)
	}
	pages := 0 // the page tree's root counts every page: the largest /Count
	for _, m := range regexp.MustCompile(`/Count (\d+)`).FindAllSubmatch(b, -1) {
		if n, _ := strconv.Atoi(string(m[1])); n > pages {
			pages = n
		}
	}
	if pages < 3 {
		t.Errorf("the printed report has %d pages; want every section (3 or more)", pages)
	}
	t.Logf("printed report: %s, %d pages", pdf, pages)
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
	inex := dom[strings.Index(dom, `<svg id="inex"`):]
	if strings.Count(inex[:strings.Index(inex, "</svg>")], `class="mk"`) < len(m.Result.Cells) {
		t.Errorf("intrinsic/extrinsic scatter has fewer points than cells")
	}
}
