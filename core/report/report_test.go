package report

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/score/scoretest"
)

func model(t testing.TB, cfg scoretest.Config) *Model {
	t.Helper()
	st := scoretest.Study(cfg)
	s := score.DefaultSettings()
	s.Bootstrap = 200
	res, err := score.Compute(st, s)
	if err != nil {
		t.Fatal(err)
	}
	return &Model{Title: "Test report", Study: st, Result: res}
}

var fullCfg = scoretest.Config{Teachers: 5, Languages: []string{"ar", "de", "ja"}, Seeds: []int{1, 2, 3},
	Strategies: []string{"generate", "respond"}, Students: []string{"olmo", "gemma"}, Controls: true, Examples: 8, PerExample: 30, Seed: 4}

func TestWriteAllFiles(t *testing.T) {
	dir := t.TempDir()
	// POLYGLOT_REPORT_OUT keeps the sample report for a look in a browser.
	if out := os.Getenv("POLYGLOT_REPORT_OUT"); out != "" {
		dir = out
	}
	m := model(t, fullCfg)
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.html", "report.md", "report.json", "ranking.csv", "cells.csv", "strategies.csv", "diagnostics.csv", "pca.csv", "cost.csv", "controls.csv"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	html := read(t, dir, "report.html")
	for _, want := range []string{`<svg id="heatmap"`, `<svg id="scree"`, `<svg id="scale"`, `<svg id="inex"`,
		"Negative controls", "Example browser", "Recommendations", "t over seeds", m.Result.Teachers[0].Teacher, "ratio_then_mean"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	// Self-contained: nothing is loaded from elsewhere.
	for _, bad := range []string{"<link", "src=", "@import", "url(", "http://", "https://"} {
		for _, line := range strings.Split(html, "\n") {
			if strings.Contains(line, bad) && !strings.Contains(line, `xmlns="http://www.w3.org/2000/svg"`) {
				t.Errorf("report.html references an external resource (%q): %s", bad, strings.TrimSpace(line))
				break
			}
		}
	}
	var js struct {
		Result   score.Result   `json:"result"`
		Analysis map[string]any `json:"analysis"`
	}
	if err := json.Unmarshal([]byte(read(t, dir, "report.json")), &js); err != nil {
		t.Fatal(err)
	}
	if len(js.Result.Teachers) != 5 || js.Analysis["pca"] == nil {
		t.Errorf("report.json: %d teachers, pca %v", len(js.Result.Teachers), js.Analysis["pca"] != nil)
	}
	f, _ := os.Open(filepath.Join(dir, "ranking.csv"))
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 6 || rows[1][1] != m.Result.Teachers[0].Teacher {
		t.Errorf("ranking.csv: %v rows, err %v", len(rows), err)
	}
	md := read(t, dir, "report.md")
	for _, want := range []string{"## Ranking", "| rank | teacher |", "## Negative controls", "## Teacher × language"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

func TestModelOutputIsEscaped(t *testing.T) {
	m := model(t, scoretest.Config{Teachers: 3, Languages: []string{"de"}, Seeds: []int{1, 2}, Examples: 2, Seed: 1})
	evil := `<script>alert("pwned")</script>`
	m.Study.Examples = append(m.Study.Examples, score.Example{Teacher: "teacher00", Language: "de", Metric: "judge", ID: "x1",
		Value: 99, Prompt: "Ignore this " + evil, Response: `</pre><img src=x onerror=alert(1)> | pipe`})
	// A teacher name is model-facing text too (it ends up in SVG labels and tables).
	for i := range m.Result.Teachers {
		if m.Result.Teachers[i].Teacher == "teacher02" {
			m.Result.Teachers[i].Teacher = `t<b onmouseover="x">2`
		}
	}
	for i := range m.Result.Cells {
		if m.Result.Cells[i].Teacher == "teacher02" {
			m.Result.Cells[i].Teacher = `t<b onmouseover="x">2`
		}
	}
	dir := t.TempDir()
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	html := read(t, dir, "report.html")
	if strings.Contains(html, evil) || strings.Contains(html, "<img src=x") || strings.Contains(html, `<b onmouseover`) {
		t.Fatal("model output reached report.html unescaped")
	}
	// Examples travel as JSON inside a data block, with <, > and & escaped so
	// that nothing in them can close the block or open a tag.
	if !strings.Contains(html, `\u003cscript\u003ealert(\"pwned\")\u003c/script\u003e`) {
		t.Error("the escaped prompt is not in report.html's example data")
	}
	if !strings.Contains(html, "t&lt;b onmouseover=&#34;x&#34;&gt;2") {
		t.Error("the escaped teacher name is not in report.html (SVG or table)")
	}
	if n := strings.Count(html, "</script"); n != 2 {
		t.Errorf("report.html closes %d script elements, want 2 (the page's script and the example data)", n)
	}
	md := read(t, dir, "report.md")
	if strings.Contains(md, "<b onmouseover") {
		t.Error("report.md carries raw HTML from a teacher name")
	}
}

func TestWriteErrors(t *testing.T) {
	if err := Write(t.TempDir(), &Model{}); err == nil || !strings.Contains(err.Error(), "needs a Study and a Result") {
		t.Errorf("empty model: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	m := model(t, scoretest.Config{Teachers: 2, Languages: []string{"de"}, Seed: 1})
	if err := Write(filepath.Join(file, "sub"), m); err == nil {
		t.Error("writing under a regular file must fail")
	}
}

func read(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BenchmarkReport10x6 writes the full report for 10 teachers × 6 languages (3 seeds, 3
// strategies, controls, examples). The target is < 5 s per report.
func BenchmarkReport10x6(b *testing.B) {
	m := model(b, scoretest.Config{Teachers: 10, Languages: []string{"ar", "cs", "de", "es", "id", "ja"}, Seeds: []int{1, 2, 3},
		Strategies: []string{"generate", "respond", "translate"}, Students: []string{"olmo", "gemma"}, Controls: true, Examples: 20, PerExample: 100, Seed: 1})
	dir := b.TempDir()
	b.ResetTimer()
	for b.Loop() {
		m.Analysis = nil
		if err := Write(dir, m); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReportWithNothingRanked: every cell below the generation minimums still gives a
// report that lists the failures.
func TestReportWithNothingRanked(t *testing.T) {
	st := scoretest.Study(scoretest.Config{Teachers: 2, Languages: []string{"de"}, Seed: 8})
	for i := range 2 {
		st.Generation = append(st.Generation, score.GenerationRecord{Teacher: scoretest.TeacherName(i), Language: "de", Strategy: "respond", Seed: 1,
			Examples: 1, Failures: 19, Reasons: map[string]int{"call_error:auth": 19}})
	}
	res, err := score.Compute(st, score.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Write(dir, &Model{Study: st, Result: res}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(md), "call_error:auth ×19") {
		t.Errorf("report.md does not list the failures:\n%s", md)
	}
}

// TestNoNegativeZeroTicks: axis ticks near zero must print as "0", never "-0".
func TestNoNegativeZeroTicks(t *testing.T) {
	for lo := -3.0; lo < 0; lo += 0.01 {
		for _, hi := range []float64{0.07, 0.3, 0.7, 1.3, 2.9} {
			for _, v := range ticks(lo, hi, 6) {
				if s := num(v); s == "-0" || strings.HasPrefix(s, "-0e") || s == "-0.00e+00" {
					t.Fatalf("ticks(%g, %g) has a tick printed as %q", lo, hi, s)
				}
			}
		}
	}
}

// TestFirstScreenAndLayout checks the report's order and the fixes for empty sections.
func TestFirstScreenAndLayout(t *testing.T) {
	dir := t.TempDir()
	m := model(t, scoretest.Config{Teachers: 4, Languages: []string{"ar", "de"}, Seeds: []int{1, 2, 3}, Students: []string{"olmo"}, Examples: 3, Seed: 2})
	for i := range m.Study.Teachers {
		m.Study.Teachers[i].Parameters, m.Study.Teachers[i].BenchmarkStrength = 0, 0
	}
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	html := read(t, dir, "report.html")
	order := []string{`<svg id="ranking-chart"`, `<svg id="heatmap"`, `id="recommendations"`, `id="languages"`, `id="examples"`, `id="settings"`}
	last := -1
	for _, s := range order {
		i := strings.Index(html, s)
		if i < 0 {
			t.Fatalf("report.html lacks %s", s)
		}
		if i < last {
			t.Errorf("%s comes before the section preceding it in %v", s, order)
		}
		last = i
	}
	for _, want := range []string{"★ best", "teacher (rank)", "★ best teacher in the language", `linearGradient id="heatmap-g"`, ">language<", ">teacher<"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q (ranking chart or heatmap legend)", want)
		}
	}
	// Every teacher in the ranking chart, best first.
	chart := html[strings.Index(html, `<svg id="ranking-chart"`):]
	chart = chart[:strings.Index(chart, "</svg>")]
	prev := -1
	for _, tr := range m.Result.Teachers {
		i := strings.Index(chart, ">"+tr.Teacher+" (")
		if i < prev {
			t.Errorf("ranking chart: %s is out of rank order (or missing)", tr.Teacher)
		}
		prev = i
	}
	// No strategies: the best-per-language table has no empty strategy columns.
	if strings.Contains(html, "best strategy (mean PG)") {
		t.Error("best-per-language shows strategy columns in a study without strategies")
	}
	// No teacher declares a size: the scale section says why in one line.
	if !strings.Contains(html, "Does scale predict effectiveness?</h3>\n<p class=\"muted\">Not run:") {
		t.Error("the empty scale section does not say why")
	}
	// Per-language table: by language, then rank.
	sec := html[strings.Index(html, `id="languages"`):]
	sec = sec[:strings.Index(sec, "</table>")]
	var got []string
	for _, row := range strings.Split(sec, "<tr")[2:] {
		cells := strings.Split(row, "<td")
		got = append(got, cells[1][strings.Index(cells[1], ">")+1:strings.Index(cells[1], "<")]+" "+cells[2][strings.Index(cells[2], ">")+1:strings.Index(cells[2], "<")])
	}
	if strings.Join(got, ",") != "ar 1,ar 2,ar 3,ar 4,de 1,de 2,de 3,de 4" {
		t.Errorf("per-language rows are not sorted by language and rank: %v", got)
	}
}

// What the response cache answered is reported apart from the cost, in
// cost.csv and report.md: a rerun from the cache must not read as free.
func TestCostReportsWhatTheCacheSaved(t *testing.T) {
	dir := t.TempDir()
	cfg := fullCfg
	cfg.Teachers = 2
	m := model(t, cfg)
	m.Study.Teachers[0].SavedUSD = m.Study.Teachers[0].CostUSD / 4
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "cost.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("cost.csv: %d rows, %v", len(rows), err)
	}
	if rows[0][1] != "cost_usd" || rows[0][2] != "saved_by_cache_usd" {
		t.Fatalf("cost.csv header %v", rows[0])
	}
	want := map[string]string{m.Study.Teachers[0].Teacher: ff(m.Study.Teachers[0].SavedUSD), m.Study.Teachers[1].Teacher: "0"}
	for _, r := range rows[1:] {
		if r[2] != want[r[0]] {
			t.Errorf("cost.csv: %s saved %s, want %s", r[0], r[2], want[r[0]])
		}
	}
	if md := read(t, dir, "report.md"); !strings.Contains(md, "saved by the cache (USD)") {
		t.Error("report.md's cost table has no saved-by-the-cache column")
	}
}

// Where the langid metric appears, the report says what "und" means.
func TestUndExplained(t *testing.T) {
	for _, withLangid := range []bool{false, true} {
		m := model(t, fullCfg)
		if withLangid {
			m.Result.Metrics[0].Metric = "langid"
		}
		dir := t.TempDir()
		if err := Write(dir, m); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"report.md", "report.html"} {
			has := strings.Contains(read(t, dir, f), "(undetermined) when it is too short")
			if has != withLangid {
				t.Errorf("%s: explanation of und present %v, want %v", f, has, withLangid)
			}
		}
	}
}

// The store gives examples in the order their metric units finished, which
// differs after a resume; the report must not.
func TestExampleOrderDoesNotChangeTheReport(t *testing.T) {
	m := model(t, fullCfg)
	a, b := t.TempDir(), t.TempDir()
	if err := Write(a, m); err != nil {
		t.Fatal(err)
	}
	rev := append([]score.Example(nil), m.Study.Examples...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	m.Study.Examples = rev
	if err := Write(b, m); err != nil {
		t.Fatal(err)
	}
	if read(t, a, "report.html") != read(t, b, "report.html") {
		t.Error("reversing the examples changed report.html")
	}
}

// The cost section counts the GPU-hours each self-hosted model server held
// next to the API spend, in every format.
func TestCostShowsServerGPUHours(t *testing.T) {
	dir := t.TempDir()
	m := model(t, fullCfg)
	m.Servers = []ServerCost{{Server: "gemma27", Engine: "vllm", Model: "google/gemma-3-27b-it", Executor: "slurm", GPUs: 2, HeldHours: 3.5, GPUHours: 7}}
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(read(t, dir, "servers.csv"))).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != "gemma27" || rows[1][6] != "7" || rows[1][5] != "3.5" {
		t.Fatalf("servers.csv: %v %v", rows, err)
	}
	for _, f := range []string{"report.md", "report.html", "report.json"} {
		body := read(t, dir, f)
		if !strings.Contains(body, "gemma27") || !strings.Contains(strings.ToLower(body), "gpu") {
			t.Errorf("%s does not show the server's GPU-hours", f)
		}
	}
	if md := read(t, dir, "report.md"); !strings.Contains(md, "| gemma27 | vllm | google/gemma-3-27b-it | slurm | 2 | 3.5 | 7 |") {
		t.Errorf("report.md's server table:\n%s", md[strings.Index(md, "## Cost"):])
	}
}
