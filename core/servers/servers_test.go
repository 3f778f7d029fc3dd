package servers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/core/executor/local"
	"github.com/polyglot-teachers/polyglot/core/executor/slurm"
	"github.com/polyglot-teachers/polyglot/core/spec"
)

var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "servers-test")
	if err != nil {
		panic(err)
	}
	serverBin = filepath.Join(dir, "openaiserver")
	if out, err := exec.Command("go", "build", "-o", serverBin, "./testdata/openaiserver").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func executors() func(string) executor.Executor {
	l := local.New()
	l.PollInterval = 50 * time.Millisecond
	l.Grace = 3 * time.Second
	s := slurm.New()
	s.PollInterval = 300 * time.Millisecond
	return func(kind string) executor.Executor {
		switch kind {
		case "local":
			return l
		case "slurm":
			return s
		}
		return nil
	}
}

func fakeServer(name string, args ...string) *spec.Server {
	return &spec.Server{Name: name, Engine: "command", Command: append([]string{serverBin, "-listen", "{host}:{port}", "-model", "fake-1"}, args...),
		Restarts: 2, Ready: spec.ServerReady{Path: "/v1/models", Timeout: 20 * time.Second, Interval: 50 * time.Millisecond},
		Executor: spec.Executor{Kind: "local"}}
}

func newManager(t *testing.T, dir string, keep bool, specs ...*spec.Server) *Manager {
	t.Helper()
	m, err := New(specs, Options{Dir: dir, Keep: keep, Executor: executors(), Log: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// through sends GET /v1/models to the server through the URL a unit's
// config would hold after Rewrite.
func through(t *testing.T, m *Manager, name string) (int, string) {
	t.Helper()
	u := m.Rewrite(cty.StringVal(spec.ServerAddress(name) + "/v1")).AsString()
	if strings.Contains(u, spec.ServerHostSuffix) {
		t.Fatalf("Rewrite left the placeholder in %q", u)
	}
	resp, err := http.Get(u + "/models")
	if err != nil {
		t.Fatalf("GET %s/models: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil && !zombie(pid) }

// zombie reports whether pid has exited and waits for its parent to reap it.
func zombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && strings.HasPrefix(rest, "Z")
}

// gone waits up to 15s for pid to end.
func gone(pid int) bool {
	deadline := time.Now().Add(15 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return !alive(pid)
}

var pidLine = regexp.MustCompile(`openaiserver pid (\d+) starting`)

// serverPIDs reads the PIDs the server printed across its attempts.
func serverPIDs(t *testing.T, m *Manager, name string) []int {
	t.Helper()
	s := m.servers[name]
	var out []int
	paths, _ := filepath.Glob(filepath.Join(s.dir, "logs*", "stderr.log"))
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		for _, mm := range pidLine.FindAllStringSubmatch(string(b), -1) {
			pid, _ := strconv.Atoi(mm[1])
			out = append(out, pid)
		}
	}
	return out
}

func TestServerLifecycleLocal(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, dir, false, fakeServer("fake"))
	if code, _ := through(t, m, "fake"); code != http.StatusServiceUnavailable {
		t.Errorf("before any unit acquired it, the proxy answered %d, want 503", code)
	}
	m.Expect("fake", 2)
	ctx := ctxT(t, time.Minute)
	if err := m.Acquire(ctx, "fake"); err != nil {
		t.Fatal(err)
	}
	if err := m.Acquire(ctx, "fake"); err != nil { // shared: no second process
		t.Fatal(err)
	}
	code, body := through(t, m, "fake")
	if code != 200 || !strings.Contains(body, `"fake-1"`) {
		t.Fatalf("through the proxy: %d %s", code, body)
	}
	pids := serverPIDs(t, m, "fake")
	if len(pids) != 1 || !alive(pids[0]) {
		t.Fatalf("want one running server process, got %v", pids)
	}
	st := m.Status()[0]
	if st.State != StateReady || !strings.HasPrefix(st.URL, "http://127.0.0.1:") || st.LogDir == "" {
		t.Errorf("status = %+v", st)
	}
	m.Release("fake")
	if !alive(pids[0]) {
		t.Fatal("the server stopped while a unit still holds it")
	}
	m.Release("fake") // the last expected unit: the server stops
	if !gone(pids[0]) {
		t.Fatal("server process still running after its last unit released it")
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := Records(dir)
	if len(recs) != 1 || recs[0].State != StateStopped || recs[0].HeldHours <= 0 {
		t.Errorf("records = %+v", recs)
	}
}

func TestServerRestartedAfterKill(t *testing.T) {
	m := newManager(t, t.TempDir(), false, fakeServer("fake"))
	defer m.Close(context.Background())
	ctx := ctxT(t, time.Minute)
	if err := m.Acquire(ctx, "fake"); err != nil {
		t.Fatal(err)
	}
	first := serverPIDs(t, m, "fake")
	if len(first) != 1 {
		t.Fatalf("pids %v", first)
	}
	syscall.Kill(first[0], syscall.SIGKILL)
	// Requests through the proxy wait for the restart rather than fail for good.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := through(t, m, "fake")
		pids := serverPIDs(t, m, "fake")
		if code == 200 && len(pids) == 2 {
			second := pids[0] + pids[1] - first[0]
			if !gone(first[0]) || !alive(second) {
				t.Fatalf("after the restart: pids %v, first %d alive %v", pids, first[0], alive(first[0]))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no restart: last status %d, pids %v, state %+v", code, pids, m.Status())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := m.Status()[0]; st.Attempt != 1 || st.State != StateReady {
		t.Errorf("status after restart = %+v", st)
	}
	m.Release("fake")
}

func TestServerNeverReady(t *testing.T) {
	sp := fakeServer("slow", "-never-ready")
	sp.Ready.Timeout = 2 * time.Second
	m := newManager(t, t.TempDir(), false, sp)
	defer m.Close(context.Background())
	start := time.Now()
	err := m.Acquire(ctxT(t, time.Minute), "slow")
	took := time.Since(start)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"did not answer 200 within 2s", "openaiserver serving fake-1", "stderr.log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if took > 10*time.Second {
		t.Errorf("the error came after %s; the start-up timeout is 2s", took)
	}
	for _, pid := range serverPIDs(t, m, "slow") {
		if !gone(pid) {
			t.Errorf("server process %d left running after it failed to become ready", pid)
		}
	}
	// Units that come later fail at once with the same error.
	if err2 := m.Acquire(ctxT(t, time.Second), "slow"); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Acquire: %v", err2)
	}
}

func TestServerCannotStart(t *testing.T) {
	sp := fakeServer("oom", "-fail", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
	sp.Restarts = 1
	m := newManager(t, t.TempDir(), false, sp)
	defer m.Close(context.Background())
	err := m.Acquire(ctxT(t, time.Minute), "oom")
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"CUDA out of memory", "exit code 3", "died 2 times; restarts = 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestKeepServersReattach(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, dir, true, fakeServer("fake"))
	if err := m.Acquire(ctxT(t, time.Minute), "fake"); err != nil {
		t.Fatal(err)
	}
	m.Release("fake")
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	pids := serverPIDs(t, m, "fake")
	if len(pids) != 1 || !alive(pids[0]) {
		t.Fatalf("--keep-servers: the server should still run; pids %v", pids)
	}
	if recs := Records(dir); len(recs) != 1 || recs[0].State != StateKept {
		t.Fatalf("records %+v", recs)
	}
	// The next run re-attaches to the same process.
	m2 := newManager(t, dir, false, fakeServer("fake"))
	if err := m2.Acquire(ctxT(t, time.Minute), "fake"); err != nil {
		t.Fatal(err)
	}
	if again := serverPIDs(t, m2, "fake"); len(again) != 1 || again[0] != pids[0] {
		t.Fatalf("second run started another server: pids %v, first %v", again, pids)
	}
	if code, _ := through(t, m2, "fake"); code != 200 {
		t.Fatalf("through the re-attached server: %d", code)
	}
	m2.Release("fake")
	if err := m2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !gone(pids[0]) {
		t.Fatal("server still running after a run without --keep-servers ended")
	}
}

func TestMaxServers(t *testing.T) {
	m, err := New([]*spec.Server{fakeServer("a"), fakeServer("b")}, Options{Dir: t.TempDir(), Max: 1, Executor: executors(), Log: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	m.Expect("a", 1)
	m.Expect("b", 1)
	if err := m.Acquire(ctxT(t, time.Minute), "a"); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- m.Acquire(ctxT(t, time.Minute), "b") }()
	select {
	case err := <-got:
		t.Fatalf("b started while a held the only slot (err %v)", err)
	case <-time.After(time.Second):
	}
	m.Release("a")
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	m.Release("b")
}

func TestUsesAndRewrite(t *testing.T) {
	v := cty.ObjectVal(map[string]cty.Value{
		"base_url": cty.StringVal(spec.ServerAddress("gemma") + "/v1"),
		"other":    cty.StringVal("http://example.invalid"),
		"list":     cty.ListVal([]cty.Value{cty.StringVal(spec.ServerAddress("emb"))}),
	})
	if got := Uses(v, []string{"gemma", "emb", "judge"}); strings.Join(got, ",") != "emb,gemma" {
		t.Errorf("Uses = %v", got)
	}
	m := newManager(t, t.TempDir(), false, fakeServer("gemma"))
	defer m.Close(context.Background())
	out := m.Rewrite(v)
	if u := out.GetAttr("base_url").AsString(); u != m.servers["gemma"].proxyURL+"/v1" {
		t.Errorf("base_url = %q", u)
	}
	if out.GetAttr("other").AsString() != "http://example.invalid" {
		t.Error("Rewrite changed an unrelated string")
	}
}

func TestRecordJSON(t *testing.T) {
	dir := t.TempDir()
	r := record{Name: "x", Key: "k", GPUs: 2, HeldSeconds: 7200, State: StateStopped}
	if err := saveRecord(dir, r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, recordFile))
	var back record
	if err := json.Unmarshal(b, &back); err != nil || back.HeldSeconds != 7200 {
		t.Fatalf("%v %+v", err, back)
	}
	if st := back.status(dir); st.GPUHours != 4 || st.HeldHours != 2 {
		t.Errorf("status %+v", st)
	}
}
