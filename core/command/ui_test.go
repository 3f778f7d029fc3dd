package command_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// uiChromium finds a headless browser, skipping (or failing when
// POLYGLOT_REQUIRE_TOOLS=1) when there is none.
func uiChromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("POLYGLOT_REQUIRE_TOOLS") == "1" {
		t.Fatal("chromium is not installed and POLYGLOT_REQUIRE_TOOLS=1; install it with `apt-get install -y chromium`")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium)")
	return ""
}

// uiDOM loads url in headless Chromium, lets the page poll for budget
// (virtual time, which waits for the page's requests) and returns the DOM
// and the browser's log.
func uiDOM(t *testing.T, bin, url string, budget time.Duration) (dom, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+t.TempDir(), "--window-size=1280,900",
		"--enable-logging=stderr", "--v=0", "--virtual-time-budget="+strconv.Itoa(int(budget.Milliseconds())), "--dump-dom", url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errb.String())
	}
	return out.String(), errb.String()
}

var uiConsole = regexp.MustCompile(`(?i)CONSOLE|Uncaught`)

func uiTotal(t *testing.T, dom, id string) int {
	t.Helper()
	m := regexp.MustCompile(`<b id="total-` + id + `">([0-9.]+)</b>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the live view shows no total-%s", id)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// startUI starts `polyglot ui` on a free loopback port for r's study and
// returns its URL (without a token).
func startUI(t *testing.T, r *chaosRun, env ...string) string {
	t.Helper()
	ui := r.command("ui", "--addr", "127.0.0.1:0")
	ui.Env = append(ui.Env, env...)
	stdout, err := ui.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var uiErr bytes.Buffer
	ui.Stderr = &uiErr
	if err := ui.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ui.Process.Signal(os.Interrupt); ui.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("polyglot ui printed no URL: %v\n%s", err, uiErr.String())
	}
	go io.Copy(io.Discard, stdout)
	url := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/`).FindString(line)
	if url == "" || strings.Contains(line, "token=") {
		t.Fatalf("want a loopback URL without a token, got %q", line)
	}
	return url
}

// uiLive is the part of live.json the tests read.
type uiLive struct {
	Live struct {
		Plan   string
		Budget struct {
			CapUSD   *float64 `json:"cap_usd"`
			SpentUSD float64  `json:"spent_usd"`
			Teachers []struct {
				Teacher         string
				CapUSD          *float64 `json:"cap_usd"`
				SpentUSD        float64  `json:"spent_usd"`
				Requests        int
				PlannedRequests int `json:"planned_requests"`
			}
		}
		Metrics struct {
			Names []string
			Rows  []struct {
				Teacher string
				Values  map[string]*float64
			}
		}
		Ranking struct {
			State    string
			Teachers []struct {
				Teacher  string
				PG       *float64
				Lo, Hi   *float64
				Complete bool
			}
		}
	}
}

func uiGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return b
}

func uiLiveJSON(t *testing.T, url string) uiLive {
	t.Helper()
	var l uiLive
	if err := json.Unmarshal(uiGet(t, url+"live.json"), &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestUILiveView follows a run in progress in headless Chromium: one
// teacher has been run to the end (`run --only teacher=plain`), and a run
// of the whole study is generating the other teacher's data from a slow
// fake server. The page polls and redraws without a reload while the run
// goes, shows the first teacher's metric values, a provisional ranking with
// its interval and examples, and the second teacher's cell as incomplete;
// no console error; at the end its figures are those of `status --json` and
// its ranking is the report's.
func TestUILiveView(t *testing.T) {
	if testing.Short() {
		t.Skip("runs polyglot")
	}
	bin := uiChromium(t)
	// The slow teacher (concurrency 1) needs n × 80 ms = 32 s: time for
	// the view to score the fast one's results and the page to be checked.
	const n = 400 // per teacher
	srv := startChatServer(t, "127.0.0.1:0", 80*time.Millisecond)
	r := newChaosRun(t, "live", writeSeeds(t, t.TempDir(), n), srv.baseURL(), n, 8)
	r.run(t, "run", "--only", "teacher=plain")
	run := r.command("run")
	var runErr bytes.Buffer
	run.Stderr = &runErr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- run.Wait() }()
	t.Cleanup(func() { run.Process.Kill() })
	for srv.requests.Load() < n+10 {
		time.Sleep(10 * time.Millisecond)
	}
	url := startUI(t, r)
	start := time.Now()

	// Wait, from outside the page, for the fast teacher's metric values and
	// a provisional ranking: the slow teacher is still generating then.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		l := uiLiveJSON(t, url)
		if l.Live.Ranking.State == "ready" && len(l.Live.Ranking.Teachers) > 0 && len(l.Live.Metrics.Rows) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no provisional ranking after 2 minutes: %+v\n%s", l.Live, runErr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Logf("a provisional ranking %s after the view started (%d requests sent)", time.Since(start).Round(time.Millisecond), srv.requests.Load())

	// During the run: the page polls several times in one load, and sees the
	// examples grow between polls.
	dom, log := uiDOM(t, bin, url, 20*time.Second)
	t.Logf("the page was loaded %s after the view started (%d requests sent)", time.Since(start).Round(time.Millisecond), srv.requests.Load())
	select {
	case <-runDone:
		t.Fatalf("the run ended before the live view was checked during it (too fast for the test):\n%s", runErr.String())
	default:
	}
	if p := uiConsole.FindAllString(log, -1); len(p) > 0 {
		t.Errorf("the live view logged console messages:\n%s", log)
	}
	m := regexp.MustCompile(`data-updates="([0-9]+)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the page never polled:\n%s", dom)
	}
	if u, _ := strconv.Atoi(m[1]); u < 2 {
		t.Errorf("the page updated %d times in one load; want several", u)
	}
	first := regexp.MustCompile(`data-first-examples="([0-9]+)"`).FindStringSubmatch(dom)
	during := uiTotal(t, dom, "examples")
	if first == nil {
		t.Fatal("the page does not record its first poll")
	}
	t.Logf("during the run: %s updates in one load, examples %s → %d", m[1], first[1], during)
	if f, _ := strconv.Atoi(first[1]); during <= f || during >= 2*n {
		t.Errorf("examples went from %s to %d in one page load during a run of %d: the page did not follow the run", first[1], during, 2*n)
	}
	if !strings.Contains(dom, `id="state">running`) {
		t.Error("the page does not say the run is going")
	}
	// The provisional ranking: marked so, the fast teacher with its score
	// and interval, the slow one not yet ranked.
	if !strings.Contains(dom, `class="prov">provisional`) || !strings.Contains(dom, `data-state="ready"`) {
		t.Error("the page shows no provisional ranking marked as such")
	}
	rankRow := regexp.MustCompile(`<tr data-teacher="plain"[^>]*><td class="n">1</td><td>plain</td><td class="n pg">(-?[0-9.e+-]+)</td><td class="n interval">\[(-?[0-9.e+-]+), (-?[0-9.e+-]+)\]</td>`)
	if rankRow.FindStringSubmatch(dom) == nil {
		t.Errorf("the ranking lacks the fast teacher with a score and an interval:\n%s", uiSection(dom, "ranking"))
	}
	if regexp.MustCompile(`<table id="ranking"[^>]*>.*data-teacher="brief"`).MatchString(dom) {
		t.Error("the slow teacher is ranked before any of its metric values landed")
	}
	if !regexp.MustCompile(`<tr data-cell="brief/de">.*?<td>no</td></tr>`).MatchString(dom) {
		t.Errorf("the slow teacher's cell is not shown as incomplete:\n%s", uiSection(dom, "cell-progress"))
	}
	if !regexp.MustCompile(`<tr data-cell="plain/de/[^/"]*/1">.*?<td class="n" title="n = 400" data-metric="length.response_chars">[0-9.]+</td>`).MatchString(dom) {
		t.Errorf("the fast teacher's metric values are not shown:\n%s", uiSection(dom, "metrics"))
	}
	if !strings.Contains(dom, `class="excell"`) || !strings.Contains(dom, `class="lbl">prompt`) {
		t.Errorf("the example browser shows no examples:\n%s", uiSection(dom, "ex-list"))
	}
	uiScreenshot(t, bin, url, "during-run.png")

	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, runErr.String())
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("the run did not finish")
	}
	// Let the view score the finished store before the last look.
	deadline = time.Now().Add(time.Minute)
	for {
		l := uiLiveJSON(t, url)
		if len(l.Live.Ranking.Teachers) == 2 && l.Live.Ranking.Teachers[0].Complete && l.Live.Ranking.Teachers[1].Complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the finished study's ranking did not appear: %+v", l.Live.Ranking)
		}
		time.Sleep(200 * time.Millisecond)
	}
	dom, log = uiDOM(t, bin, url, 1500*time.Millisecond)
	if p := uiConsole.FindAllString(log, -1); len(p) > 0 {
		t.Errorf("the live view logged console messages:\n%s", log)
	}
	var st struct {
		Summary struct {
			Stages []struct {
				Stage                          string
				Pending, Running, Done, Failed int
			}
			Cells []struct {
				Teacher            string
				Examples, Failures int
				CostUSD            float64 `json:"cost_usd"`
			}
			Total struct {
				Examples, Failures, Retrying int
				CostUSD                      float64 `json:"cost_usd"`
			}
		}
	}
	if err := json.Unmarshal([]byte(r.run(t, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if got := uiTotal(t, dom, "examples"); got != st.Summary.Total.Examples || got != 2*n {
		t.Errorf("the live view shows %d examples, status --json %d (want %d)", got, st.Summary.Total.Examples, 2*n)
	}
	if got := uiTotal(t, dom, "failed-requests"); got != st.Summary.Total.Failures {
		t.Errorf("the live view shows %d failed requests, status --json %d", got, st.Summary.Total.Failures)
	}
	for _, s := range st.Summary.Stages {
		row := regexp.MustCompile(`<tr data-stage="` + regexp.QuoteMeta(s.Stage) + `">(.*?)</tr>`).FindStringSubmatch(dom)
		if row == nil {
			t.Errorf("the live view has no row for stage %s", s.Stage)
			continue
		}
		want := `<td class="n">` + strconv.Itoa(s.Pending) + `</td><td class="n">` + strconv.Itoa(s.Running) + `</td><td class="n">` + strconv.Itoa(s.Done) + `</td>`
		if !strings.Contains(row[1], want) {
			t.Errorf("stage %s: the live view shows %s, status --json %+v", s.Stage, row[1], s)
		}
	}
	// Per teacher: the cells summed, in the teachers table and in the budget
	// table (requests of the plan's, spend of the cap).
	per, reqs, cost := map[string]int{}, map[string]int{}, map[string]float64{}
	for _, c := range st.Summary.Cells {
		per[c.Teacher] += c.Examples
		reqs[c.Teacher] += c.Examples + c.Failures
		cost[c.Teacher] += c.CostUSD
	}
	if len(per) != 2 {
		t.Errorf("status --json has cells of %d teachers, want 2", len(per))
	}
	for teacher, ex := range per {
		if !regexp.MustCompile(`<tr data-teacher="` + regexp.QuoteMeta(teacher) + `"><td>[^<]*</td><td class="n">` + strconv.Itoa(ex) + `</td>`).MatchString(dom) {
			t.Errorf("the live view's teacher table lacks %s with %d examples", teacher, ex)
		}
		b := regexp.MustCompile(`<table id="budget">.*?<tr data-teacher="` + teacher + `"><td>` + teacher + `</td><td class="n">` + strconv.Itoa(reqs[teacher]) + ` / ` + strconv.Itoa(n) +
			`</td>.*?<td class="n">` + regexp.QuoteMeta(strconv.FormatFloat(cost[teacher], 'f', 4, 64)) + ` / [0-9.]+</td>`)
		if !b.MatchString(dom) {
			t.Errorf("the budget table lacks %s with %d of %d requests and $%.4f:\n%s", teacher, reqs[teacher], n, cost[teacher], uiSection(dom, "budget"))
		}
	}
	if !regexp.MustCompile(`<tr data-teacher="plain">.*?<td class="n">20\.0000</td><td class="n"><span class="barbg">`).MatchString(dom) {
		t.Errorf("the budget table does not show plain's cap of $20:\n%s", uiSection(dom, "budget"))
	}
	if want := "of the experiment's budget of $50.0000"; !strings.Contains(dom, want) {
		t.Errorf("the page does not show the experiment's budget (%q)", want)
	}
	if !strings.Contains(dom, `id="state">nothing running or pending`) {
		t.Error("after the run the page still says it is running")
	}
	// The provisional ranking of the finished store is the report's (the
	// same scores; the report's intervals have more resamples).
	var rep struct {
		Result struct {
			Teachers []struct {
				Teacher string
				PG      float64
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(r.store, "report", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Result.Teachers) != 2 {
		t.Fatalf("report.json: %v, %d teachers", err, len(rep.Result.Teachers))
	}
	for i, rt := range rep.Result.Teachers {
		want := strconv.FormatFloat(rt.PG, 'g', 3, 64)
		row := regexp.MustCompile(`<tr data-teacher="` + rt.Teacher + `"[^>]*><td class="n">[0-9]+</td><td>` + rt.Teacher + `</td><td class="n pg">([^<]*)</td>.*?<td>(complete|incomplete)</td></tr>`).FindStringSubmatch(uiSection(dom, "ranking"))
		if row == nil {
			t.Errorf("the ranking lacks %s (rank %d in the report)", rt.Teacher, i+1)
			continue
		}
		if g, _ := strconv.ParseFloat(row[1], 64); math.Abs(g-rt.PG) > 1e-3+1e-2*math.Abs(rt.PG) || row[2] != "complete" {
			t.Errorf("%s: the live view ranks it at %s (%s), the report at %s", rt.Teacher, row[1], row[2], want)
		}
	}
}

// uiScreenshot keeps a picture of the page (1,280 px wide, long enough for
// most sections) for the reviewer: in $POLYGLOT_ARTIFACTS/ui when set (CI
// collects it), else in a temporary folder that is logged.
func uiScreenshot(t *testing.T, bin, url, name string) {
	t.Helper()
	dir := os.Getenv("POLYGLOT_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars", "--user-data-dir="+t.TempDir(),
		"--window-size=1280,2400", "--virtual-time-budget=3000", "--screenshot="+shot, url).CombinedOutput()
	if err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	t.Logf("screenshot of the live view: %s", shot)
}

// uiSection is the DOM of the element with id, for failure messages.
func uiSection(dom, id string) string {
	i := strings.Index(dom, `id="`+id+`"`)
	if i < 0 {
		return "(no element " + id + ")"
	}
	return dom[i:min(len(dom), i+3000)]
}
