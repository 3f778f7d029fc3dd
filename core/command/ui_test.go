package command_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
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

// TestUILiveView follows a run in progress (a slow fake teacher) in headless
// Chromium: the page polls and redraws without a reload while the run goes,
// shows no console error, and at the end its figures are those of
// `status --json`.
func TestUILiveView(t *testing.T) {
	if testing.Short() {
		t.Skip("runs polyglot")
	}
	bin := uiChromium(t)
	const n = 400
	srv := startChatServer(t, "127.0.0.1:0", 60*time.Millisecond)
	r := newChaosRun(t, "chaos", writeSeeds(t, t.TempDir(), n), srv.baseURL(), n, 2)
	run := r.command("run")
	var runErr bytes.Buffer
	run.Stderr = &runErr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- run.Wait() }()
	t.Cleanup(func() { run.Process.Kill() })
	for srv.requests.Load() < 10 {
		time.Sleep(10 * time.Millisecond)
	}

	ui := r.command("ui", "--addr", "127.0.0.1:0")
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

	// During the run: the page polls several times in one load, and sees the
	// examples grow between polls.
	dom, log := uiDOM(t, bin, url, 20*time.Second)
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
	if f, _ := strconv.Atoi(first[1]); during <= f || during >= n {
		t.Errorf("examples went from %s to %d in one page load during a run of %d: the page did not follow the run", first[1], during, n)
	}
	if !strings.Contains(dom, `id="state">running`) {
		t.Error("the page does not say the run is going")
	}

	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, runErr.String())
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("the run did not finish")
	}
	dom, _ = uiDOM(t, bin, url, 1500*time.Millisecond)
	var st struct {
		Summary struct {
			Stages []struct {
				Stage                          string
				Pending, Running, Done, Failed int
			}
			Total struct {
				Examples, Failures, Retrying int
			}
		}
	}
	if err := json.Unmarshal([]byte(r.run(t, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if got := uiTotal(t, dom, "examples"); got != st.Summary.Total.Examples || got != n {
		t.Errorf("the live view shows %d examples, status --json %d (want %d)", got, st.Summary.Total.Examples, n)
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
	// Per teacher: the cells' examples summed (the chaos study has one teacher).
	var cells struct {
		Summary struct {
			Cells []struct {
				Teacher  string
				Examples int
			}
		}
	}
	json.Unmarshal([]byte(r.run(t, "status", "--json")), &cells)
	per := map[string]int{}
	for _, c := range cells.Summary.Cells {
		per[c.Teacher] += c.Examples
	}
	if len(per) == 0 {
		t.Error("status --json has no cells")
	}
	for teacher, ex := range per {
		if !regexp.MustCompile(`<tr data-teacher="` + regexp.QuoteMeta(teacher) + `"><td>[^<]*</td><td class="n">` + strconv.Itoa(ex) + `</td>`).MatchString(dom) {
			t.Errorf("the live view's teacher table lacks %s with %d examples", teacher, ex)
		}
	}
	if !strings.Contains(dom, `id="state">nothing running or pending`) {
		t.Error("after the run the page still says it is running")
	}
}
