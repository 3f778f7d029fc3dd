package command_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/internal/slurmtest"
)

// The model-server tests run `polyglot run` on a spec whose teacher is a
// `server` block: polyglot starts the server (the test's OpenAI-compatible
// binary through the `command` engine), points the teacher at it, and
// stops it afterwards.

func buildTestServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "openaiserver")
	cmd := exec.Command("go", "build", "-o", bin, "./core/servers/testdata/openaiserver")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test server: %v\n%s", err, out)
	}
	return bin
}

type serverRun struct {
	dir, store, log string
	args            []string
}

func newServerRun(t *testing.T, n int, serverArgs ...string) *serverRun {
	return newServerRunIn(t, "servers-run", n, serverArgs...)
}

func newServerRunIn(t *testing.T, spec string, n int, serverArgs ...string) *serverRun {
	tmp := t.TempDir()
	r := &serverRun{dir: filepath.Join(repoRoot, "testdata/specs", spec), store: filepath.Join(tmp, "store"), log: filepath.Join(tmp, "requests.log")}
	sa := `["-log", "` + r.log + `"`
	for _, a := range serverArgs {
		sa += `, "` + a + `"`
	}
	sa += "]"
	r.args = []string{"-var", "store=" + r.store, "-var", "seeds=" + writeSeeds(t, tmp, n), "-var", "server_bin=" + buildTestServer(t),
		"-var", "examples=" + strconv.Itoa(n), "-var", "server_args=" + sa, "--allow-read", tmp}
	return r
}

func (r *serverRun) command(verb string, extra ...string) *exec.Cmd {
	cmd := exec.Command(polyglotBin, append(append([]string{verb, r.dir}, r.args...), extra...)...)
	// Off: every test asks the same prompts, and a shared cache would answer
	// them without the server.
	cmd.Env = append(os.Environ(), "POLYGLOT_LOG=info", "POLYGLOT_CACHE=off")
	return cmd
}

// answered reads the request log: one line "PID HASH" per answered call.
func (r *serverRun) answered(t *testing.T) (lines []string, pids map[int]bool) {
	t.Helper()
	pids = map[int]bool{}
	f, err := os.Open(r.log)
	if err != nil {
		return nil, pids
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			pid, _ := strconv.Atoi(f[0])
			pids[pid] = true
			lines = append(lines, f[1])
		}
	}
	return lines, pids
}

var serverPIDRE = regexp.MustCompile(`openaiserver pid (\d+) starting`)

// serverPIDs are the processes the run's server attempts started.
func (r *serverRun) serverPIDs(t *testing.T) []int {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(r.store, "servers", "fake", "*", "logs*", "stderr.log"))
	var out []int
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		for _, m := range serverPIDRE.FindAllStringSubmatch(string(b), -1) {
			pid, _ := strconv.Atoi(m[1])
			out = append(out, pid)
		}
	}
	return out
}

func processGone(pid int) bool {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if _, rest, ok := strings.Cut(string(b), ") "); ok && strings.HasPrefix(rest, "Z") {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func (r *serverRun) noServerLeft(t *testing.T) {
	t.Helper()
	pids := r.serverPIDs(t)
	if len(pids) == 0 {
		t.Fatal("no server process was ever started")
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("server process %d left running", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func TestRunStartsAndStopsItsServer(t *testing.T) {
	const n = 40
	r := newServerRun(t, n)
	planOut, err := r.command("plan").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^fake\s+command\s+-\s+local\s+0\s+1\s+generate\s`).Match(planOut) {
		t.Errorf("plan does not show the server, where it runs and when it is held:\n%s", planOut)
	}
	var errb bytes.Buffer
	cmd := r.command("run")
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	lines, _ := r.answered(t)
	if len(lines) != n {
		t.Errorf("the server answered %d requests for %d examples", len(lines), n)
	}
	r.noServerLeft(t)
	out, err := r.command("status").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fake", "stopped", filepath.Join(r.store, "servers", "fake")} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// A second run has nothing to do and starts no server.
	before := len(r.serverPIDs(t))
	if err := r.command("run").Run(); err != nil {
		t.Fatal(err)
	}
	if after := len(r.serverPIDs(t)); after != before {
		t.Errorf("a run with nothing to do started the server (%d -> %d processes)", before, after)
	}
}

// TestServerKilledMidRun kills the server while requests are in flight:
// polyglot starts it again, the unit resumes, and no request is answered
// twice (none is paid twice).
func TestServerKilledMidRun(t *testing.T) {
	const n = 60
	r := newServerRun(t, n, "-slow", "40ms")
	var errb bytes.Buffer
	cmd := r.command("run")
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for {
		lines, _ := r.answered(t)
		if len(lines) >= n/3 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the run made no progress:\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	first := r.serverPIDs(t)
	if len(first) != 1 {
		t.Fatalf("server pids %v", first)
	}
	syscall.Kill(first[0], syscall.SIGKILL)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, errb.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("run did not finish\n%s", errb.String())
	}
	lines, pids := r.answered(t)
	seen := map[string]bool{}
	for _, h := range lines {
		if seen[h] {
			t.Errorf("request %s was answered twice", h)
		}
		seen[h] = true
	}
	if len(seen) != n || len(pids) != 2 {
		t.Errorf("answered %d distinct requests of %d by %d server processes, want all by 2", len(seen), n, len(pids))
	}
	if !strings.Contains(errb.String(), "server died; starting it again") {
		t.Errorf("the log does not say the server was restarted:\n%s", errb.String())
	}
	r.noServerLeft(t)
}

// TestCtrlCStopsServers interrupts a run while its server is busy: every
// server process is gone when polyglot exits.
func TestCtrlCStopsServers(t *testing.T) {
	const n = 60
	r := newServerRun(t, n, "-slow", "200ms")
	var errb bytes.Buffer
	cmd := r.command("run")
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(r.serverPIDs(t)) == 0 || func() bool { l, _ := r.answered(t); return len(l) == 0 }() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the server never answered:\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("want exit code 130 after Ctrl-C, got %v\n%s", err, errb.String())
	}
	r.noServerLeft(t)
}

// TestServerThatCannotStartFailsItsUnits: the unit fails with the engine's
// own last log lines.
func TestServerThatCannotStartFailsItsUnits(t *testing.T) {
	r := newServerRun(t, 5, "-fail", "ValueError: model fake-1 needs 80 GiB of GPU memory")
	var errb bytes.Buffer
	cmd := r.command("run")
	cmd.Stderr = &errb
	err := cmd.Run()
	if err == nil {
		t.Fatal("run succeeded with a server that cannot start")
	}
	for _, want := range []string{"needs 80 GiB of GPU memory", "model server \"fake\""} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	r.noServerLeft(t)
}

// serverJobs lists the running or pending Slurm jobs of server "fake".
func serverJobs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("squeue", "-h", "-o", "%i|%j|%T").Output()
	if err != nil {
		t.Fatalf("squeue: %v", err)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		if len(f) == 3 && strings.HasPrefix(f[1], "polyglot-server-fake") && (f[2] == "RUNNING" || f[2] == "PENDING") {
			ids = append(ids, f[0])
		}
	}
	return ids
}

// TestSlurmServerSurvivesHostKill runs the teacher's server as a Slurm job,
// SIGKILLs polyglot mid-run, and runs again: the second run re-attaches to
// the job still running (every request is answered by the one server
// process), and when it ends no job is left.
func TestSlurmServerSurvivesHostKill(t *testing.T) {
	slurmtest.Require(t)
	const n = 40
	r := newServerRunIn(t, "servers-slurm", n, "-slow", "100ms")
	if p := os.Getenv("POLYGLOT_SLURM_PARTITION"); p != "" {
		r.args = append(r.args, "-var", "partition="+p)
	}
	t.Cleanup(func() {
		if ids := serverJobs(t); len(ids) > 0 {
			exec.Command("scancel", ids...).Run()
		}
	})
	var errb bytes.Buffer
	cmd := r.command("run")
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if lines, _ := r.answered(t); len(lines) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the run made no progress:\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill() // SIGKILL: no chance to stop its server
	cmd.Wait()
	before := serverJobs(t)
	if len(before) != 1 {
		t.Fatalf("after the host died: server jobs %v, want the one still running", before)
	}
	errb.Reset()
	again := r.command("run")
	again.Stderr = &errb
	if err := again.Run(); err != nil {
		t.Fatalf("second run: %v\n%s", err, errb.String())
	}
	lines, pids := r.answered(t)
	seen := map[string]bool{}
	for _, h := range lines {
		seen[h] = true
	}
	if len(seen) != n || len(pids) != 1 {
		t.Errorf("%d distinct requests answered by %d server processes; want %d by the one job's process", len(seen), len(pids), n)
	}
	if !strings.Contains(errb.String(), `"reattached":true`) {
		t.Errorf("the second run did not say it re-attached:\n%s", errb.String())
	}
	deadline = time.Now().Add(30 * time.Second)
	for len(serverJobs(t)) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if ids := serverJobs(t); len(ids) > 0 {
		t.Errorf("server jobs left after the run: %v", ids)
	}
}
