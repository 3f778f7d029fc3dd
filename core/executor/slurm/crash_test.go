package slurm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/internal/slurmtest"
)

var errCrash = errors.New("simulated crash")

// crashJob is a job that records each run and waits for a release file, so the tests
// can look at Slurm while it is still running.
func crashJob(dir, key string) executor.Job {
	return executor.Job{
		Key: key, Name: "crash " + key, WorkDir: dir,
		Argv: []string{"sh", "-c", `echo run >> runs.txt; while [ ! -f release ]; do sleep 0.2; done; echo released`},
	}
}

// jobsNamed asks squeue (all states) for the distinct job ids with this exact name.
func jobsNamed(t *testing.T, name string) []string {
	t.Helper()
	out, err := exec.Command("squeue", "-h", "-t", "all", "-n", name, "-o", "%F|%j|%T").CombinedOutput()
	if err != nil {
		t.Fatalf("squeue: %v %s", err, out)
	}
	return parseTokenSqueue(name, string(out))
}

// tokenName is the Slurm job name the intent recorded in dir stands for.
func tokenName(t *testing.T, j executor.Job) string {
	t.Helper()
	rec, err := executor.LoadState(j.WorkDir)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Token == "" {
		t.Fatalf("state has no submission token: %+v", rec)
	}
	return jobName(j, rec.Token)
}

// scancelAll cancels whatever jobs carry name, so a failed test leaves nothing running.
func scancelAll(t *testing.T, name string) {
	t.Cleanup(func() { _ = exec.Command("scancel", "-n", name).Run() })
}

// crashHelperEnv makes the test binary act as a polyglot process that submits one job
// (TestCrashHelperProcess) and is SIGKILLed by the sbatch wrapper on its PATH.
const crashHelperEnv = "POLYGLOT_SLURM_CRASH_HELPER"

// TestCrashHelperProcess is not a test: it is the child process of the "SIGKILL" cases.
func TestCrashHelperProcess(t *testing.T) {
	dir := os.Getenv(crashHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestSubmitAfterCrash")
	}
	e := New()
	e.BinDir = os.Getenv(crashHelperEnv + "_BIN")
	_, err := e.Submit(context.Background(), crashJob(dir, os.Getenv(crashHelperEnv+"_KEY")))
	// Reaching here means the wrapper failed to kill us.
	fmt.Fprintf(os.Stderr, "helper survived its sbatch: %v\n", err)
	os.Exit(3)
}

// killedBy runs a child polyglot process whose sbatch is the given wrapper script (which
// calls the real sbatch and SIGKILLs its parent) and checks that it died by SIGKILL.
func killedBy(t *testing.T, dir, key, wrapper string) {
	t.Helper()
	real, err := exec.LookPath("sbatch")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	script := "#!/bin/sh\nREAL=" + shq(real) + "\n" + wrapper
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+dir, crashHelperEnv+"_BIN="+bin, crashHelperEnv+"_KEY="+key)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.String() != "signal: killed" {
		t.Fatalf("helper should die by SIGKILL, got %v:\n%s", err, out)
	}
}

// crashAt makes a Submit of j die at the crash point ("before-sbatch",
// "after-sbatch"), as a polyglot process killed there would.
func crashAt(t *testing.T, j executor.Job, point string) {
	t.Helper()
	e := newExec()
	e.crash = func(p string) error {
		if p == point {
			return errCrash
		}
		return nil
	}
	if _, err := e.Submit(context.Background(), j); !errors.Is(err, errCrash) {
		t.Fatalf("first Submit: %v, want the simulated crash at %s", err, point)
	}
}

// A polyglot process that dies between sbatch and recording the job id must not make the
// next Submit start the job a second time; one that dies before sbatch must not keep the
// job from being started once.
func TestSubmitAfterCrash(t *testing.T) {
	slurmtest.Require(t)
	t.Parallel()
	tests := []struct {
		name string
		// crash makes a first Submit die somewhere; it returns whether sbatch had run.
		crash func(t *testing.T, j executor.Job) (submitted bool)
		// finishFirst lets the job end (and waits for it) before the restart.
		finishFirst bool
	}{
		{"crash right after sbatch, job running", func(t *testing.T, j executor.Job) bool {
			crashAt(t, j, "after-sbatch")
			return true
		}, false},
		{"crash right after sbatch, job ended before restart", func(t *testing.T, j executor.Job) bool {
			crashAt(t, j, "after-sbatch")
			return true
		}, true},
		{"crash before sbatch", func(t *testing.T, j executor.Job) bool {
			crashAt(t, j, "before-sbatch")
			return false
		}, false},
		{"SIGKILL after sbatch returned", func(t *testing.T, j executor.Job) bool {
			killedBy(t, j.WorkDir, j.Key, `"$REAL" "$@" || exit $?
kill -9 $PPID
`)
			return true
		}, false},
		{"SIGKILL while sbatch still talks to slurmctld", func(t *testing.T, j executor.Job) bool {
			// The process dies first; the orphaned sbatch submits 2 s later. The restart
			// must wait for it (the inherited folder lock) rather than submit again.
			killedBy(t, j.WorkDir, j.Key, `kill -9 $PPID
sleep 2
exec "$REAL" "$@"
`)
			return true
		}, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := workDir(t)
			j := crashJob(dir, fmt.Sprintf("crash-%d", i))
			if tc.finishFirst {
				if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			submitted := tc.crash(t, j)
			name := tokenName(t, j)
			scancelAll(t, name)
			rec, _ := executor.LoadState(dir)
			if !rec.Intent() {
				t.Fatalf("after the crash the state should be an intent without job id: %+v", rec.Handle)
			}
			var before []string
			if tc.finishFirst {
				// Wait until Slurm says the job is over.
				deadline := time.Now().Add(60 * time.Second)
				for {
					out, _ := exec.Command("squeue", "-h", "-t", "all", "-n", name, "-o", "%T").Output()
					if strings.TrimSpace(string(out)) == "COMPLETED" || time.Now().After(deadline) {
						break
					}
					time.Sleep(300 * time.Millisecond)
				}
			}
			if !submitted {
				if got := jobsNamed(t, name); len(got) != 0 {
					t.Fatalf("crash before sbatch, yet Slurm has %v", got)
				}
			} else if !strings.HasPrefix(tc.name, "SIGKILL while") {
				if before = jobsNamed(t, name); len(before) != 1 {
					t.Fatalf("after sbatch Slurm should hold one job named %s, has %v", name, before)
				}
			}

			// The restart: a fresh executor, as in a new polyglot process.
			e := newExec()
			h, err := e.Submit(ctxFor(t, 30*time.Second), j)
			if err != nil {
				t.Fatal(err)
			}
			after := jobsNamed(t, name)
			if len(after) != 1 || after[0] != h.ID {
				t.Fatalf("Slurm holds %v named %s, want exactly the handle's job %s", after, name, h.ID)
			}
			if before != nil && before[0] != h.ID {
				t.Fatalf("restart got job %s, want the adopted %s", h.ID, before[0])
			}
			rec, err = executor.LoadState(dir)
			if err != nil || rec.Handle != h || rec.Intent() {
				t.Fatalf("state after restart: %+v %v", rec, err)
			}
			// A second restart re-attaches by the recorded id.
			if h2, err := newExec().Submit(context.Background(), j); err != nil || h2 != h {
				t.Fatalf("third Submit: %+v %v, want %+v", h2, err, h)
			}

			if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			var c collector
			res, err := e.Wait(ctxFor(t, 90*time.Second), h, c.on)
			if err != nil || res.State != executor.StateSucceeded {
				t.Fatalf("wait: %+v %v", res, err)
			}
			if d := cmp.Diff([]string{"released"}, c.lines("stdout", -1)); d != "" {
				t.Errorf("stdout (-want +got):\n%s", d)
			}
			if runs, _ := os.ReadFile(filepath.Join(dir, "runs.txt")); string(runs) != "run\n" {
				t.Errorf("runs.txt %q: the job must run exactly once", runs)
			}
			if got := jobsNamed(t, name); len(got) != 1 {
				t.Errorf("after the run Slurm holds %v named %s, want one job", got, name)
			}
		})
	}
}

// A retry (Attempt+1) over an attempt that was only ever an intent cancels that attempt's
// job: nobody would wait on it, and the retry does its work again.
func TestRetryCancelsUnrecordedAttempt(t *testing.T) {
	slurmtest.Require(t)
	t.Parallel()
	dir := workDir(t)
	j := crashJob(dir, "retry-orphan")
	e := newExec()
	e.crash = func(p string) error {
		if p == "after-sbatch" {
			return errCrash
		}
		return nil
	}
	if _, err := e.Submit(context.Background(), j); !errors.Is(err, errCrash) {
		t.Fatalf("first Submit: %v, want the simulated crash", err)
	}
	oldName := tokenName(t, j)
	scancelAll(t, oldName)
	old := jobsNamed(t, oldName)
	if len(old) != 1 {
		t.Fatalf("Slurm should hold the first attempt's job, has %v", old)
	}

	j.Attempt = 1
	h, err := newExec().Submit(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	scancelAll(t, tokenName(t, j))
	if h.ID == old[0] {
		t.Fatalf("the retry must be a new job, got the old one %s", h.ID)
	}
	out, err := exec.Command("squeue", "-h", "-t", "all", "-j", old[0], "-o", "%T").CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || got != "CANCELLED" {
		t.Errorf("first attempt's job %s is %q (%v), want CANCELLED", old[0], got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := newExec().Wait(ctxFor(t, 90*time.Second), h, nil); err != nil || res.State != executor.StateSucceeded {
		t.Fatalf("retry: %+v %v", res, err)
	}
}
