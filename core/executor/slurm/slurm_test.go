package slurm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/internal/slurmtest"
)

func newExec() *Executor {
	e := New()
	e.PollInterval = 300 * time.Millisecond
	return e
}

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

func (c *collector) sawState(task int, st executor.State) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range c.evs {
		if ev.Kind == executor.EventState && ev.Task == task && ev.State == st {
			return true
		}
	}
	return false
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// workDir makes a job folder that slurmd (running as root on this node) can write to.
func workDir(t *testing.T) string {
	d := t.TempDir()
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSubmitRunsToCompletion(t *testing.T) {
	slurmtest.Require(t)
	t.Parallel()
	tests := []struct {
		name     string
		code     string
		wantErr  executor.Reason
		wantCode int
	}{
		{"success", "0", "", 0},
		{"exit code", "3", executor.ReasonFailed, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := workDir(t)
			e := newExec()
			h, err := e.Submit(context.Background(), executor.Job{
				Key: executor.KeyOf("complete", tc.name), Name: "polyglot test " + tc.name, WorkDir: dir,
				Argv:      []string{"/bin/sh", "-c", `echo "in: $(cat input.txt)"; echo "it's $GREETING" >&2; exit "$1"`, "sh", tc.code},
				Env:       map[string]string{"GREETING": "quoted 'env'"},
				Files:     map[string][]byte{"input.txt": []byte("a file")},
				Resources: executor.Resources{CPUs: 1, MemoryMB: 100, TimeLimit: 5 * time.Minute},
			})
			if err != nil {
				t.Fatal(err)
			}
			var c collector
			res, err := e.Wait(ctxFor(t, 90*time.Second), h, c.on)
			if tc.wantErr == "" {
				if err != nil || res.State != executor.StateSucceeded {
					t.Fatalf("want success, got %+v %v", res, err)
				}
			} else {
				var je *executor.JobError
				if !errors.As(err, &je) || je.Reason != tc.wantErr || je.ExitCode != tc.wantCode || je.Retryable() {
					t.Fatalf("want non-retryable %s exit %d, got %v", tc.wantErr, tc.wantCode, err)
				}
			}
			if d := cmp.Diff([]string{"in: a file"}, c.lines("stdout", -1)); d != "" {
				t.Errorf("stdout (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{"it's quoted 'env'"}, c.lines("stderr", -1)); d != "" {
				t.Errorf("stderr (-want +got):\n%s", d)
			}
			script, _ := os.ReadFile(filepath.Join(dir, "logs", "job.sbatch"))
			for _, want := range []string{"#SBATCH --cpus-per-task=1", "#SBATCH --mem=100M", "#SBATCH --time=5", "#SBATCH --job-name=polyglot_test_"} {
				if !strings.Contains(string(script), want) {
					t.Errorf("script lacks %q:\n%s", want, script)
				}
			}
		})
	}
}

func TestCancel(t *testing.T) {
	slurmtest.Require(t)
	t.Parallel()
	dir := workDir(t)
	e := newExec()
	h, err := e.Submit(context.Background(), executor.Job{
		Key: "cancel", Name: "cancel", WorkDir: dir, Argv: []string{"sh", "-c", "echo up; exec sleep 300"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Cancel once the job has really started (its first log line arrives).
	var c collector
	started := make(chan struct{})
	var once sync.Once
	on := func(ev executor.Event) {
		c.on(ev)
		if ev.Kind == executor.EventLog && ev.Line == "up" {
			once.Do(func() { close(started) })
		}
	}
	go func() {
		select {
		case <-started:
		case <-time.After(60 * time.Second):
		}
		if err := e.Cancel(context.Background(), h); err != nil {
			t.Errorf("cancel: %v", err)
		}
	}()
	_, err = e.Wait(ctxFor(t, 90*time.Second), h, on)
	var je *executor.JobError
	if !errors.As(err, &je) || je.Reason != executor.ReasonCancelled || je.Retryable() {
		t.Fatalf("want CANCELLED, got %v", err)
	}
	if !c.sawState(-1, executor.StateRunning) {
		t.Error("no RUNNING event seen before the cancel")
	}
	if err := e.Cancel(context.Background(), h); err != nil {
		t.Errorf("cancelling a finished job: %v", err)
	}
}

func TestTimeLimitBecomesTimeout(t *testing.T) {
	slurmtest.Require(t)
	t.Parallel()
	dir := workDir(t)
	e := newExec()
	e.PollInterval = time.Second
	h, err := e.Submit(context.Background(), executor.Job{
		Key: "timeout", Name: "timeout", WorkDir: dir, Argv: []string{"sleep", "600"},
		Resources: executor.Resources{TimeLimit: time.Second}, // rounded up to Slurm's minimum, 1 minute
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = e.Wait(ctxFor(t, 150*time.Second), h, nil)
	var je *executor.JobError
	if !errors.As(err, &je) || je.Reason != executor.ReasonTimeout || je.Retryable() {
		t.Fatalf("want non-retryable TIMEOUT, got %v", err)
	}
	if !strings.Contains(err.Error(), "TimeLimit") {
		t.Errorf("error should say what to change: %q", err)
	}
	t.Logf("killed for its time limit after %v: %v", time.Since(start).Round(time.Second), err)
}

func TestReattachAfterRestart(t *testing.T) {
	slurmtest.Require(t)
	t.Parallel()
	dir := workDir(t)
	job := executor.Job{
		Key: "reattach", Name: "reattach", WorkDir: dir,
		Argv: []string{"sh", "-c", `echo run >> runs.txt; while [ ! -f release ]; do sleep 0.2; done; echo released`},
	}
	h1, err := newExec().Submit(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	// A new polyglot process: a fresh executor, same job.
	second := newExec()
	h2, err := second.Submit(context.Background(), job)
	if err != nil || h2 != h1 {
		t.Fatalf("re-submit: %+v %v, want %+v", h2, err, h1)
	}
	done := make(chan error, 1)
	var c collector
	go func() { _, err := second.Wait(ctxFor(t, 90*time.Second), h2, c.on); done <- err }()
	time.Sleep(time.Second)
	select {
	case err := <-done:
		t.Fatalf("Wait returned before the job could finish: %v", err)
	default:
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"released"}, c.lines("stdout", -1)); d != "" {
		t.Errorf("stdout (-want +got):\n%s", d)
	}
	if runs, _ := os.ReadFile(filepath.Join(dir, "runs.txt")); string(runs) != "run\n" {
		t.Errorf("runs.txt %q: the job must run exactly once", runs)
	}
	// A third instance, after the end, still gets the result.
	if res, err := newExec().Wait(ctxFor(t, 30*time.Second), h1, nil); err != nil || res.State != executor.StateSucceeded {
		t.Errorf("wait on finished job: %+v %v", res, err)
	}
}

func TestArrayJob(t *testing.T) {
	slurmtest.Require(t)
	t.Parallel()
	dir := workDir(t)
	e := newExec()
	h, err := e.Submit(context.Background(), executor.Job{
		Key: "array", Name: "array", WorkDir: dir, Array: 3,
		Argv: []string{"sh", "-c", `echo "task $POLYGLOT_ARRAY_TASK_ID"; [ "$SLURM_ARRAY_TASK_ID" != 1 ] || exit 7`},
	})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	res, err := e.Wait(ctxFor(t, 90*time.Second), h, c.on)
	var je *executor.JobError
	if !errors.As(err, &je) || je.Task != 1 || je.ExitCode != 7 || je.Reason != executor.ReasonFailed {
		t.Fatalf("want task 1 FAILED with exit code 7, got %v", err)
	}
	want := []executor.TaskResult{
		{Task: 0, State: executor.StateSucceeded},
		{Task: 1, State: executor.StateFailed, ExitCode: 7, Reason: executor.ReasonFailed},
		{Task: 2, State: executor.StateSucceeded},
	}
	if d := cmp.Diff(want, res.Tasks, cmp.Transformer("noDetail", func(tr executor.TaskResult) executor.TaskResult { tr.Detail = ""; return tr })); d != "" {
		t.Errorf("tasks (-want +got):\n%s", d)
	}
	for i, want := range []string{"task 0", "task 1", "task 2"} {
		if got := c.lines("stdout", i); len(got) != 1 || got[0] != want {
			t.Errorf("task %d stdout %q, want %q", i, got, want)
		}
	}
}
