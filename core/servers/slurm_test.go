package servers

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/internal/slurmtest"
)

func slurmServer(name string) *spec.Server {
	s := fakeServer(name)
	s.Executor = spec.Executor{Kind: "slurm", Partition: partition(), TimeLimit: 10 * time.Minute}
	s.Ready.Timeout = time.Minute
	return s
}

func partition() string {
	if p := os.Getenv("POLYGLOT_SLURM_PARTITION"); p != "" {
		return p
	}
	return "debug"
}

// jobsOf lists the Slurm jobs (any state squeue still knows) of server name
// in state PENDING or RUNNING.
func jobsOf(t *testing.T, name string) []string {
	t.Helper()
	out, err := exec.Command("squeue", "-h", "-o", "%i|%j|%T").Output()
	if err != nil {
		t.Fatalf("squeue: %v", err)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		if len(f) == 3 && strings.HasPrefix(f[1], "polyglot-server-"+name) && (f[2] == "RUNNING" || f[2] == "PENDING") {
			ids = append(ids, f[0])
		}
	}
	return ids
}

func waitNoJobs(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(jobsOf(t, name)) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if ids := jobsOf(t, name); len(ids) > 0 {
		t.Errorf("Slurm jobs left behind: %v", ids)
		exec.Command("scancel", ids...).Run()
	}
}

// TestHelperHost is the polyglot host the SIGKILL test kills: it starts the
// server on Slurm, says so, and waits to be killed.
func TestHelperHost(t *testing.T) {
	dir := os.Getenv("POLYGLOT_SERVERS_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process")
	}
	serverBin = os.Getenv("POLYGLOT_SERVERS_HELPER_BIN")
	m, err := New([]*spec.Server{slurmServer(os.Getenv("POLYGLOT_SERVERS_HELPER_NAME"))}, Options{Dir: dir, Executor: executors(), Log: zerolog.New(os.Stderr)})
	if err != nil {
		t.Fatal(err)
	}
	name := m.Names()[0]
	if err := m.Acquire(context.Background(), name); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("READY", m.Status()[0].JobID)
	time.Sleep(10 * time.Minute)
}

func TestSlurmServerSurvivesHostKill(t *testing.T) {
	slurmtest.Require(t)
	dir := t.TempDir()
	name := fmt.Sprintf("k%d", os.Getpid())
	t.Cleanup(func() { waitNoJobs(t, name) })
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHost$", "-test.v")
	cmd.Env = append(os.Environ(), "POLYGLOT_SERVERS_HELPER_DIR="+dir, "POLYGLOT_SERVERS_HELPER_BIN="+serverBin, "POLYGLOT_SERVERS_HELPER_NAME="+name)
	out, _ := cmd.StdoutPipe()
	var helperErr bytes.Buffer
	cmd.Stderr = &helperErr
	defer func() {
		if t.Failed() {
			t.Logf("host process stderr:\n%s", helperErr.String())
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	jobID := ""
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "READY" {
			jobID = f[1]
			break
		} else if len(f) > 0 && f[0] == "ERROR" {
			t.Fatal(sc.Text())
		}
	}
	if jobID == "" {
		cmd.Process.Kill()
		t.Fatal("the host process never said READY")
	}
	cmd.Process.Kill() // SIGKILL: no chance to stop anything
	cmd.Wait()
	if ids := jobsOf(t, name); len(ids) != 1 || ids[0] != jobID {
		t.Fatalf("after the host died: jobs %v, want the server job %s still running", ids, jobID)
	}

	// The restarted host re-attaches to the running job.
	m, err := New([]*spec.Server{slurmServer(name)}, Options{Dir: dir, Executor: executors(), Log: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Acquire(ctxT(t, 2*time.Minute), name); err != nil {
		t.Fatal(err)
	}
	st := m.Status()[0]
	if st.JobID != jobID {
		t.Errorf("restarted host: job %s (attempt %d), want the running job %s", st.JobID, st.Attempt, jobID)
	}
	if ids := jobsOf(t, name); len(ids) != 1 {
		t.Errorf("a second server job was started: %v", ids)
	}
	if code, body := through(t, m, name); code != 200 || !strings.Contains(body, "fake-1") {
		t.Errorf("through the proxy: %d %s", code, body)
	}
	if !strings.HasPrefix(st.URL, "http://") || strings.Contains(st.URL, "127.0.0.1") {
		t.Errorf("URL %q: want the node's name from Slurm", st.URL)
	}
	// Ctrl-C: Close stops the job.
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitNoJobs(t, name)
}
