package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/executor"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newExec() *Executor {
	e := New()
	e.PollInterval = 20 * time.Millisecond
	e.Grace = 500 * time.Millisecond
	return e
}

// collector gathers events; Wait calls it from one goroutine but tests read it afterwards.
type collector struct {
	mu  sync.Mutex
	evs []executor.Event
}

func (c *collector) on(ev executor.Event) { c.mu.Lock(); c.evs = append(c.evs, ev); c.mu.Unlock() }

func (c *collector) lines(stream string, task int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, ev := range c.evs {
		if ev.Kind == executor.EventLog && ev.Stream == stream && ev.Task == task {
			out = append(out, ev.Line)
		}
	}
	return out
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRunCapturesLogsAndExitCodes(t *testing.T) {
	talk := fixture(t, "talk.sh")
	tests := []struct {
		name       string
		argv       []string
		wantState  executor.State
		wantCode   int
		wantReason executor.Reason
		wantOut    []string
		wantErr    []string
	}{
		{"success", []string{"/bin/sh", talk, "0"}, executor.StateSucceeded, 0, "",
			[]string{"out: from a file", "no newline at end"}, []string{"err: hello"}},
		{"exit code", []string{"/bin/sh", talk, "3"}, executor.StateFailed, 3, executor.ReasonFailed,
			[]string{"out: from a file", "no newline at end"}, []string{"err: hello"}},
		{"command not found", []string{"polyglot-no-such-command"}, executor.StateFailed, 127, executor.ReasonFailed,
			nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			e := newExec()
			h, err := e.Submit(context.Background(), executor.Job{
				Key: executor.KeyOf(tc.name), Name: tc.name, Argv: tc.argv, WorkDir: dir,
				Env:   map[string]string{"GREETING": "hello"},
				Files: map[string][]byte{"input.txt": []byte("from a file")},
			})
			if err != nil {
				t.Fatal(err)
			}
			var c collector
			res, err := e.Wait(waitCtx(t), h, c.on)
			if res.State != tc.wantState || res.ExitCode != tc.wantCode {
				t.Fatalf("state %s code %d, want %s %d (err %v)", res.State, res.ExitCode, tc.wantState, tc.wantCode, err)
			}
			var je *executor.JobError
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
			} else if !errors.As(err, &je) || je.Reason != tc.wantReason || je.ExitCode != tc.wantCode || je.Retryable() {
				t.Fatalf("error %#v, want non-retryable %s with exit code %d", err, tc.wantReason, tc.wantCode)
			}
			if tc.wantOut != nil {
				if d := cmp.Diff(tc.wantOut, c.lines("stdout", -1)); d != "" {
					t.Errorf("stdout events (-want +got):\n%s", d)
				}
				if d := cmp.Diff(tc.wantErr, c.lines("stderr", -1)); d != "" {
					t.Errorf("stderr events (-want +got):\n%s", d)
				}
			}
			if tc.name == "command not found" {
				b, _ := os.ReadFile(executor.LogPath(dir, "stderr", -1))
				if !strings.Contains(string(b), "polyglot-no-such-command") {
					t.Errorf("stderr.log should name the missing command, got %q", b)
				}
			}
		})
	}
}

func TestArrayRunsTasksSequentially(t *testing.T) {
	dir := t.TempDir()
	e := newExec()
	h, err := e.Submit(context.Background(), executor.Job{
		Key: "array", Name: "array", Argv: []string{"/bin/sh", fixture(t, "task.sh")}, WorkDir: dir, Array: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	res, err := e.Wait(waitCtx(t), h, c.on)
	var je *executor.JobError
	if !errors.As(err, &je) || je.Task != 1 || je.ExitCode != 7 {
		t.Fatalf("want task 1 to fail with exit code 7, got %v", err)
	}
	if !strings.Contains(je.Error(), "task 1") || !strings.Contains(je.Error(), "exit code 7") {
		t.Errorf("error text should say which task and code: %q", je.Error())
	}
	want := []executor.TaskResult{
		{Task: 0, State: executor.StateSucceeded},
		{Task: 1, State: executor.StateFailed, ExitCode: 7, Reason: executor.ReasonFailed},
		{Task: 2, State: executor.StateSucceeded},
	}
	if d := cmp.Diff(want, res.Tasks, cmpIgnoreDetail); d != "" {
		t.Errorf("tasks (-want +got):\n%s", d)
	}
	for i := 0; i < 3; i++ {
		if got := c.lines("stdout", i); len(got) != 1 || got[0] != "task "+strconv.Itoa(i)+" of 3" {
			t.Errorf("task %d stdout events %q", i, got)
		}
	}
	runs, _ := os.ReadFile(filepath.Join(dir, "runs.txt"))
	if string(runs) != "0\n1\n2\n" {
		t.Errorf("tasks ran in order %q, want 0,1,2 one after the other", runs)
	}
}

var cmpIgnoreDetail = cmp.Transformer("noDetail", func(tr executor.TaskResult) executor.TaskResult { tr.Detail = ""; return tr })

// dead reports whether pid is gone or a zombie (a zombie has exited; only its parent,
// possibly not us, still has to collect it).
func dead(pid int) bool {
	_, alive := procStart(pid)
	return !alive
}

func readPIDs(t *testing.T, path string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		fields := strings.Fields(string(b))
		if len(fields) >= n {
			var pids []int
			for _, f := range fields {
				p, err := strconv.Atoi(f)
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, p)
			}
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: fewer than %d pids after 10s", path, n)
	return nil
}

func TestCancelKillsWholeProcessGroup(t *testing.T) {
	dir := t.TempDir()
	e := newExec()
	h, err := e.Submit(context.Background(), executor.Job{
		Key: "family", Name: "family", Argv: []string{"/bin/sh", fixture(t, "family.sh")}, WorkDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	// job shell + child + grandchild; the latter two ignore SIGTERM.
	pids := readPIDs(t, filepath.Join(dir, "pids.txt"), 3)
	for _, p := range pids {
		if dead(p) {
			t.Fatalf("pid %d not running before cancel", p)
		}
	}
	start := time.Now()
	if err := e.Cancel(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	res, err := e.Wait(waitCtx(t), h, nil)
	var je *executor.JobError
	if !errors.As(err, &je) || je.Reason != executor.ReasonCancelled || res.State != executor.StateFailed {
		t.Fatalf("want CANCELLED, got %v (state %s)", err, res.State)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range pids {
		for !dead(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !dead(p) {
			t.Errorf("pid %d survived cancel", p)
		}
	}
	if took := time.Since(start); took < e.Grace {
		t.Errorf("cancel took %v: SIGTERM-ignoring processes should have needed the %v grace before SIGKILL", took, e.Grace)
	}
	// Cancelling again is harmless.
	if err := e.Cancel(context.Background(), h); err != nil {
		t.Errorf("second cancel: %v", err)
	}
}

func TestReattachFromNewExecutor(t *testing.T) {
	dir := t.TempDir()
	job := executor.Job{
		Key: "reattach", Name: "reattach", WorkDir: dir,
		Argv: []string{"/bin/sh", "-c", `echo run >> runs.txt; while [ ! -f release ]; do sleep 0.05; done; echo finished`},
	}
	first := newExec()
	h1, err := first.Submit(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	// A "restarted polyglot": a new executor, the same job.
	second := newExec()
	h2, err := second.Submit(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 {
		t.Fatalf("re-submit returned %+v, want the running job's handle %+v", h2, h1)
	}
	done := make(chan error, 1)
	var c collector
	go func() { _, err := second.Wait(waitCtx(t), h2, c.on); done <- err }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Wait returned while the job still runs: %v", err)
	default:
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("re-attached Wait: %v", err)
	}
	if got := c.lines("stdout", -1); len(got) != 1 || got[0] != "finished" {
		t.Errorf("stdout events %q", got)
	}
	// Submitting the finished job again re-attaches too; it must not run twice.
	h3, err := newExec().Submit(context.Background(), job)
	if err != nil || h3 != h1 {
		t.Fatalf("submit after finish: %+v %v", h3, err)
	}
	if res, err := newExec().Wait(waitCtx(t), h3, nil); err != nil || res.State != executor.StateSucceeded {
		t.Fatalf("wait on finished job: %+v %v", res, err)
	}
	if runs, _ := os.ReadFile(filepath.Join(dir, "runs.txt")); string(runs) != "run\n" {
		t.Fatalf("job ran %q, want exactly once", runs)
	}
	// A retry (Attempt+1) runs it again and keeps the first attempt's logs.
	job.Attempt = 1
	h4, err := newExec().Submit(context.Background(), job)
	if err != nil || h4 == h1 {
		t.Fatalf("retry: %+v %v", h4, err)
	}
	if _, err := newExec().Wait(waitCtx(t), h4, nil); err != nil {
		t.Fatal(err)
	}
	if runs, _ := os.ReadFile(filepath.Join(dir, "runs.txt")); string(runs) != "run\nrun\n" {
		t.Errorf("after retry runs.txt = %q", runs)
	}
	if _, err := os.Stat(filepath.Join(dir, "logs.attempt-0", "stdout.log")); err != nil {
		t.Errorf("first attempt's logs not kept: %v", err)
	}
	// An older attempt is refused.
	job.Attempt = 0
	if _, err := newExec().Submit(context.Background(), job); err == nil || !strings.Contains(err.Error(), "older") {
		t.Errorf("submitting attempt 0 after 1: %v", err)
	}
}

func TestLostWhenRunnerKilledFromOutside(t *testing.T) {
	dir := t.TempDir()
	first := newExec()
	h, err := first.Submit(context.Background(), executor.Job{
		Key: "lost", Name: "lost", WorkDir: dir, Argv: []string{"sleep", "300"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(h.ID)
	// Something outside polyglot (an admin, the OOM killer) kills the runner's group.
	if err := killGroup(pid); err != nil {
		t.Fatal(err)
	}
	_, err = newExec().Wait(waitCtx(t), h, nil)
	var je *executor.JobError
	if !errors.As(err, &je) || je.Reason != executor.ReasonLost || !je.Retryable() {
		t.Fatalf("want a retryable LOST error, got %v", err)
	}
}

func TestLocalTimeLimit(t *testing.T) {
	dir := t.TempDir()
	e := newExec()
	h, err := e.Submit(context.Background(), executor.Job{
		Key: "slow", Name: "slow", WorkDir: dir, Argv: []string{"sleep", "300"},
		Resources: executor.Resources{TimeLimit: 300 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = e.Wait(waitCtx(t), h, nil)
	var je *executor.JobError
	if !errors.As(err, &je) || je.Reason != executor.ReasonTimeout || je.Retryable() {
		t.Fatalf("want non-retryable TIMEOUT, got %v", err)
	}
	if !strings.Contains(err.Error(), "TimeLimit") {
		t.Errorf("timeout error should say what to change: %q", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("timeout took %v", took)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	dir := t.TempDir()
	e := newExec()
	h, err := e.Submit(context.Background(), executor.Job{Key: "ctx", Name: "ctx", WorkDir: dir, Argv: []string{"sleep", "300"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Cancel(context.Background(), h) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := e.Wait(ctx, h, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with expired ctx: %v", err)
	}
}

func TestConcurrentSubmitStartsOnce(t *testing.T) {
	dir := t.TempDir()
	job := executor.Job{Key: "once", Name: "once", WorkDir: dir, Argv: []string{"/bin/sh", "-c", "echo run >> runs.txt"}}
	const n = 8
	handles := make([]executor.Handle, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); handles[i], errs[i] = newExec().Submit(context.Background(), job) }()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil || handles[i] != handles[0] {
			t.Fatalf("submit %d: %+v %v, want %+v", i, handles[i], errs[i], handles[0])
		}
	}
	if _, err := newExec().Wait(waitCtx(t), handles[0], nil); err != nil {
		t.Fatal(err)
	}
	if runs, _ := os.ReadFile(filepath.Join(dir, "runs.txt")); string(runs) != "run\n" {
		t.Fatalf("runs.txt %q: %d concurrent submits must start the job once", runs, n)
	}
}
