package command_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// markerPassed makes the host pass the test marker to its plugins: they
// get only an allow-list of the host's environment.
const markerPassed = "POLYGLOT_PLUGIN_ENV=POLYGLOT_TEST_MARK"

// pluginPids lists the live processes of the run that are the built-in
// plugin name.
func (c *chaosRun) pluginPids(name string) []int {
	var out []int
	for _, pid := range c.processes() {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if bytes.Contains(cmdline, []byte("\x00internal-plugin\x00"+name+"\x00")) || bytes.HasSuffix(cmdline, []byte("\x00internal-plugin\x00"+name)) {
			out = append(out, pid)
		}
	}
	return out
}

const (
	crashExamples    = 5000
	crashConcurrency = 16
	crashKills       = 5
	crashDelay       = 10 * time.Millisecond
)

// TestTeacherPluginKilledMidRun SIGKILLs the teacher's plugin process (not
// the host) five times while requests are in flight. The host must notice
// each death at once, start the plugin again and send the lost calls again
// on the new process, without counting them as failures of the provider:
// the run ends on its own with every example, no failure, at most 1.5× the
// time of an unkilled run measured here, at most its concurrency's worth of
// re-sent requests per kill, and the same data as the unkilled run.
func TestTeacherPluginKilledMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs polyglot on 5,000 requests twice")
	}
	seeds := writeSeeds(t, t.TempDir(), crashExamples)
	// Each answer takes crashDelay, as a provider's would: the runs are
	// then long enough that the machine's noise does not decide the ratio.
	calmSrv := startChatServer(t, "127.0.0.1:0", crashDelay)
	addr := calmSrv.ln.Addr().String()
	calm := newChaosRun(t, "chaos", seeds, calmSrv.baseURL(), crashExamples, crashConcurrency)
	start := time.Now()
	calm.run(t, "run")
	calmTook := time.Since(start)
	calmRequests := calmSrv.requests.Load()
	calmSrv.close()
	t.Logf("unkilled run: %d requests in %s", calmRequests, calmTook.Round(time.Millisecond))

	srv := startChatServer(t, addr, crashDelay)
	crash := newChaosRun(t, "chaos", seeds, srv.baseURL(), crashExamples, crashConcurrency)
	cmd := crash.command("run")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	wait := func(cond func() bool) {
		for !cond() {
			select {
			case err := <-exited:
				t.Fatalf("polyglot run ended (%v) before the plugin could be killed, at request %d:\n%s", err, srv.requests.Load(), errb.String())
			case <-time.After(200 * time.Microsecond):
			}
		}
	}
	killed := map[int]bool{}
	for i := range crashKills {
		mark := int64(crashExamples * (i + 1) / (crashKills + 2))
		wait(func() bool { return srv.requests.Load() >= mark && srv.inflight.Load() > 0 })
		var pid int
		wait(func() bool {
			for _, p := range crash.pluginPids("openai") {
				if !killed[p] {
					pid = p
				}
			}
			return pid != 0
		})
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed[pid] = true
		t.Logf("kill %d: plugin %d after request %d", i+1, pid, srv.requests.Load())
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(10*calmTook + time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the run did not end after its plugin was killed:\n%s", errb.String())
	}
	took := time.Since(start)
	if err != nil {
		t.Fatalf("polyglot run failed after its plugin was killed: %v\n%s", err, errb.String())
	}
	crash.noLeftovers(t)
	requests := srv.requests.Load()
	t.Logf("killed run: %d requests in %s (%.2f× the unkilled run), %d kills", requests, took.Round(time.Millisecond), took.Seconds()/calmTook.Seconds(), crashKills)
	if n := strings.Count(errb.String(), "plugin died; starting it again"); n != crashKills {
		t.Errorf("the host restarted the plugin %d times for %d kills:\n%s", n, crashKills, errb.String())
	}
	if took > calmTook*3/2 {
		t.Errorf("the killed run took %s, more than 1.5× the unkilled run's %s", took.Round(time.Millisecond), calmTook.Round(time.Millisecond))
	}
	if limit := calmRequests + crashConcurrency*crashKills; requests > limit {
		t.Errorf("the killed run sent %d requests; at most %d (%d + %d per kill) may be sent", requests, limit, calmRequests, crashConcurrency)
	}
	if n := srv.bad.Load(); n > 0 {
		t.Errorf("%d malformed requests reached the server", n)
	}
	s := crash.status(t)
	if s.Total.Examples != crashExamples || s.Total.Failures != 0 || s.Total.Retrying != 0 {
		t.Errorf("killed run's store: %d examples, %d failures, %d retrying; want %d, 0, 0", s.Total.Examples, s.Total.Failures, s.Total.Retrying, crashExamples)
	}
	a, b := calm.exported(t), crash.exported(t)
	for _, name := range []string{"data.jsonl", "data.parquet", "README.md"} {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between the unkilled and the killed run (%d vs %d bytes)", name, len(a[name]), len(b[name]))
		}
	}
	checkJSONL(t, b["data.jsonl"], crashExamples)
}

var (
	fragileOnce sync.Once
	fragileBin  string
	fragileErr  error
)

// fragileRun installs the fragile test plugin and runs the fragile spec
// with FRAGILE_MODE=mode and extra arguments; it returns the result and
// how long the run took.
func fragileRun(t *testing.T, mode string, args ...string) (result, time.Duration, string) {
	r, took, store, _ := fragileRunIn(t, mode, args...)
	return r, took, store
}

// fragileRunIn is fragileRun that also returns the plugin folder.
func fragileRunIn(t *testing.T, mode string, args ...string) (result, time.Duration, string, string) {
	t.Helper()
	fragileOnce.Do(func() {
		fragileBin = filepath.Join(filepath.Dir(polyglotBin), "fragile")
		cmd := exec.Command("go", "build", "-o", fragileBin, "./core/command/testdata/fragile")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			fragileErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if fragileErr != nil {
		t.Fatal(fragileErr)
	}
	pd := t.TempDir()
	if r := polyglot(t, repoRoot, "plugins", "install", "--path", fragileBin, "--plugin-dir", pd); r.code != 0 {
		t.Fatalf("install: %s", r.stderr)
	}
	store := t.TempDir()
	cmd := exec.Command(polyglotBin, append(append([]string{"run", "--plugin-dir", pd, "-var", "store=" + store}, args...), filepath.Join(repoRoot, "testdata/specs/fragile"))...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "POLYGLOT_LOG=warn", "POLYGLOT_CACHE=off", "FRAGILE_MODE="+mode, "FRAGILE_DIR="+t.TempDir(), "POLYGLOT_PLUGIN_ENV=FRAGILE_MODE,FRAGILE_DIR")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}, took, store, pd
}

// TestMetricAndTrainerPluginCrashes: the metric plugin crashes in its
// first batch, the trainer in its first training and its first
// evaluation. Each time the plugin is started again and the unit redone,
// so the run completes with every unit done.
func TestMetricAndTrainerPluginCrashes(t *testing.T) {
	r, took, _ := fragileRun(t, "crash-once")
	if r.code != 0 {
		t.Fatalf("the run failed (exit %d) after its plugins crashed once each:\n%s", r.code, r.stderr)
	}
	// Units running on the process when it died are all redone; the
	// process is started again once per crash.
	if n := strings.Count(r.stderr, "plugin died; starting it again"); n != 3 {
		t.Errorf("%d restarts for 3 crashes:\n%s", n, r.stderr)
	}
	if n := strings.Count(r.stderr, "plugin died during the unit; starting it again"); n < 3 {
		t.Errorf("%d units redone for 3 crashes:\n%s", n, r.stderr)
	}
	t.Logf("run with 3 plugin crashes: %s", took.Round(time.Millisecond))
}

// TestHungPluginsAreBounded: a metric that hangs on every batch and a
// teacher that hangs in its open call end with an error that names the
// plugin and the timeout, after the timeout the user set.
func TestHungPluginsAreBounded(t *testing.T) {
	for _, c := range []struct{ mode, want string }{
		{"metric-hang", `plugin "fragile"`},
		{"open-hang", `plugin "fragile"`},
	} {
		t.Run(c.mode, func(t *testing.T) {
			r, took, _ := fragileRun(t, c.mode, "--plugin-call-timeout", "2s")
			if r.code == 0 {
				t.Fatalf("a hung plugin must fail the run:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "--plugin-call-timeout") {
				t.Errorf("the error does not name the plugin and the timeout:\n%s", r.stderr)
			}
			if took > 30*time.Second {
				t.Errorf("the run took %s with a 2 s plugin call timeout", took)
			}
		})
	}
}

// TestPanickingTeacherFailsFast: a teacher plugin that panics on every
// call is a bug in the plugin, not a failing provider: its requests fail
// at once, without retries or the circuit breaker's waits.
func TestPanickingTeacherFailsFast(t *testing.T) {
	r, took, store, pd := fragileRunIn(t, "panic")
	if took > 20*time.Second {
		t.Errorf("a teacher that panics on every call held the run for %s:\n%s", took, r.stderr)
	}
	t.Logf("run with a panicking teacher: %s, exit %d", took.Round(time.Millisecond), r.code)
	st := polyglot(t, repoRoot, "status", "--json", "--plugin-dir", pd, "-var", "store="+store, filepath.Join(repoRoot, "testdata/specs/fragile"))
	var s struct {
		Summary statusSummary `json:"summary"`
	}
	if err := json.Unmarshal([]byte(st.stdout), &s); err != nil {
		t.Fatalf("status --json: %v\n%s%s", err, st.stdout, st.stderr)
	}
	// 2 cells of 4 examples: every request failed for good, none retrying.
	if s.Summary.Total.Failures != 8 || s.Summary.Total.Retrying != 0 || s.Summary.Total.Examples != 0 {
		t.Errorf("status: %+v; want 8 final failures, 0 retrying, 0 examples", s.Summary.Total)
	}
}

// TestFailedMetricUnitStillScored: the metric fails on the Spanish cell
// (an endpoint the server cannot serve). The run still scores what is
// there and writes the report, which names the missing metric, its cell
// and the reason; the run exits non-zero.
func TestFailedMetricUnitStillScored(t *testing.T) {
	r, _, store := fragileRun(t, "metric-fail")
	if r.code == 0 {
		t.Errorf("a failed unit must fail the run:\n%s", r.stderr)
	}
	const reason = "no /v1/completions endpoint"
	if !strings.Contains(r.stderr, reason) {
		t.Errorf("the run does not show why the metric failed:\n%s", r.stderr)
	}
	dir := filepath.Join(store, "report")
	for _, name := range []string{"report.html", "report.md", "report.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("no %s: one failed metric unit blocked the report (%v):\n%s", name, err, r.stderr)
		}
		s := string(b)
		if !strings.Contains(s, reason) || !strings.Contains(s, "size") {
			t.Errorf("%s does not show the missing metric and its reason", name)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(md), "## Missing results") || !regexp.MustCompile(`\| size +\| fragile +\| es `).Match(md) {
		t.Errorf("report.md has no missing-results row for size on fragile/es:\n%s", md)
	}
	js, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	var rep struct {
		Result struct {
			Cells []struct{ Teacher, Language string }
		}
	}
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Result.Cells) == 0 {
		t.Errorf("nothing was scored:\n%s", js)
	}
}
