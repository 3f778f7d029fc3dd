package command_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	calmSrv := startChatServer(t, "127.0.0.1:0", time.Millisecond)
	addr := calmSrv.ln.Addr().String()
	calm := newChaosRun(t, "chaos", seeds, calmSrv.baseURL(), crashExamples, crashConcurrency)
	start := time.Now()
	calm.run(t, "run")
	calmTook := time.Since(start)
	calmRequests := calmSrv.requests.Load()
	calmSrv.close()
	t.Logf("unkilled run: %d requests in %s", calmRequests, calmTook.Round(time.Millisecond))

	srv := startChatServer(t, addr, time.Millisecond)
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
