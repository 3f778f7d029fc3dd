// Package local is the executor backend that runs jobs as subprocesses of this machine.
//
// Each job runs under a small POSIX sh runner script (written to WorkDir/logs/run.sh) in a
// process group of its own (Setpgid). The runner executes Job.Argv once, or once per array
// task one after the other with SLURM_ARRAY_TASK_ID set, sends stdout/stderr to
// WorkDir/logs/{stdout,stderr}[.<task>].log, and writes each task's exit status to
// WorkDir/logs/exit.<task> and a final WorkDir/logs/done marker. Those files, not a pipe to
// polyglot, carry the outcome, which is why a runner is needed at all: a job must outlive
// the polyglot process that started it, and a later process cannot wait(2) for a process
// that is not its child.
//
// Re-attach: the state file records the runner's PID, its start time (from /proc) and the
// boot id. A later Wait treats the job as alive while a process with that PID and start time
// exists; when it is gone, the exit files say how the job ended, and if they are missing the
// job is reported as ReasonLost (retryable: resubmit with Attempt+1). Off Linux only the PID
// is checked.
//
// Cancel (and the local enforcement of Resources.TimeLimit, done by whichever process is in
// Wait) sends SIGTERM to the whole process group, then SIGKILL after Grace. Children that
// leave the group on purpose (setsid, double fork into a new session) escape it; the
// Slurm backend has no such hole.
//
// Resources other than TimeLimit are ignored locally: this backend is for a workstation or
// for tests, not for sharing a machine fairly.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/polyglot-teachers/polyglot/core/executor"
)

// Backend is the name recorded in handles of this executor.
const Backend = "local"

// Executor runs jobs as local subprocesses. The zero value is not usable; call New.
type Executor struct {
	// PollInterval is how often Wait looks at log and status files (default 200ms).
	PollInterval time.Duration
	// Grace is how long Cancel waits between SIGTERM and SIGKILL (default 10s).
	Grace time.Duration

	mu    sync.Mutex
	reaps map[string]chan struct{} // WorkDir → closed when our child runner exits
}

// New returns a local executor with default settings.
func New() *Executor {
	return &Executor{PollInterval: 200 * time.Millisecond, Grace: 10 * time.Second, reaps: map[string]chan struct{}{}}
}

var _ executor.Executor = (*Executor)(nil)

// procInfo is the backend-specific part of the state file.
type procInfo struct {
	PID     int       `json:"pid"`
	Start   uint64    `json:"start_ticks"`
	BootID  string    `json:"boot_id,omitempty"`
	Started time.Time `json:"started"`
	Limit   string    `json:"time_limit,omitempty"` // Resources.TimeLimit, for enforcement after a restart
}

// runner is the sh script described in the package doc. Argv arrives as "$@" so nothing
// has to be quoted; the task list arrives in POLYGLOT_TASKS.
const runner = `# polyglot local executor runner (see core/executor/local).
for t in $POLYGLOT_TASKS; do
  if [ "$t" = main ]; then
    out=logs/stdout.log err=logs/stderr.log
  else
    out=logs/stdout.$t.log err=logs/stderr.$t.log
    SLURM_ARRAY_TASK_ID=$t POLYGLOT_ARRAY_TASK_ID=$t
    export SLURM_ARRAY_TASK_ID POLYGLOT_ARRAY_TASK_ID
  fi
  "$@" >"$out" 2>"$err"
  rc=$?
  printf '%s\n' "$rc" >"logs/exit.$t.tmp" && mv "logs/exit.$t.tmp" "logs/exit.$t"
done
: >logs/done
`

func taskTag(t int) string {
	if t < 0 {
		return "main"
	}
	return strconv.Itoa(t)
}

// Submit starts j, or returns the handle of the run already recorded in j.WorkDir.
func (e *Executor) Submit(ctx context.Context, j executor.Job) (executor.Handle, error) {
	s, err := executor.Begin(j, Backend)
	if err != nil {
		return executor.Handle{}, err
	}
	defer s.Close()
	if s.Existing != nil {
		return s.Existing.Handle, nil
	}
	if err := ctx.Err(); err != nil {
		return executor.Handle{}, err
	}
	if err := s.Prepare(); err != nil {
		return executor.Handle{}, err
	}
	script := filepath.Join(executor.LogDir(j.WorkDir), "run.sh")
	if err := os.WriteFile(script, []byte(runner), 0o644); err != nil {
		return executor.Handle{}, err
	}
	var tags []string
	for _, t := range j.Tasks() {
		tags = append(tags, taskTag(t))
	}
	// Not exec.CommandContext: the job must outlive ctx and this process.
	cmd := exec.Command("/bin/sh", append([]string{script}, j.Argv...)...)
	cmd.Dir = j.WorkDir
	cmd.Env = append(os.Environ(), j.SortedEnv()...)
	cmd.Env = append(cmd.Env, "POLYGLOT_TASKS="+strings.Join(tags, " "), "POLYGLOT_JOB_KEY="+j.Key)
	if j.Array > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("SLURM_ARRAY_TASK_COUNT=%d", j.Array), "SLURM_ARRAY_TASK_MIN=0",
			fmt.Sprintf("SLURM_ARRAY_TASK_MAX=%d", j.Array-1))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return executor.Handle{}, fmt.Errorf("job %q: start runner: %w", j.Name, err)
	}
	pid := cmd.Process.Pid
	start, _ := procStart(pid)
	info := procInfo{PID: pid, Start: start, BootID: bootID(), Started: time.Now().UTC()}
	if j.Resources.TimeLimit > 0 {
		info.Limit = j.Resources.TimeLimit.String()
	}
	h := executor.Handle{Backend: Backend, Key: j.Key, Attempt: j.Attempt, ID: strconv.Itoa(pid), WorkDir: j.WorkDir, Array: j.Array}
	done := make(chan struct{})
	e.mu.Lock()
	e.reaps[j.WorkDir] = done
	e.mu.Unlock()
	go e.reap(cmd, j.WorkDir, done)
	if _, err := s.Commit(h, info); err != nil {
		// Without a record nobody could find the job again: stop it rather than leak it.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return executor.Handle{}, fmt.Errorf("job %q: record state: %w", j.Name, err)
	}
	return h, nil
}

// reap collects our child's exit status (so it does not linger as a zombie) and, if the
// runner itself was killed before writing "done", records how it died.
func (e *Executor) reap(cmd *exec.Cmd, workDir string, done chan struct{}) {
	err := cmd.Wait()
	if _, statErr := os.Stat(filepath.Join(executor.LogDir(workDir), "done")); statErr != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				_ = os.WriteFile(filepath.Join(executor.LogDir(workDir), "runner-signal"), []byte(strconv.Itoa(int(ws.Signal()))+"\n"), 0o644)
			}
		}
	}
	close(done)
	e.mu.Lock()
	if e.reaps[workDir] == done {
		delete(e.reaps, workDir)
	}
	e.mu.Unlock()
	e.endGroup(cmd.Process.Pid)
}

// endGroup ends what a job whose runner has exited left in its process group
// (e.g. the model runner of an `ollama serve` that was SIGKILLed, which would
// otherwise hold its memory, or a GPU, for good): SIGTERM, SIGKILL after Grace.
// The group's id cannot be reused while any member lives.
func (e *Executor) endGroup(pgid int) {
	if !groupAlive(pgid) || syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return
	}
	for deadline := time.Now().Add(e.Grace); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !groupAlive(pgid) {
			return
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

func load(h executor.Handle) (executor.Record, procInfo, error) {
	var info procInfo
	if h.Backend != Backend {
		return executor.Record{}, info, fmt.Errorf("%s: not a %s handle", h, Backend)
	}
	rec, err := executor.LoadState(h.WorkDir)
	if err != nil {
		return rec, info, fmt.Errorf("%s: read state: %w", h, err)
	}
	if rec.Handle.Key != h.Key || rec.Handle.Attempt != h.Attempt {
		return rec, info, fmt.Errorf("%s: WorkDir now holds key %s attempt %d; the handle is stale", h, rec.Handle.Key, rec.Handle.Attempt)
	}
	if err := json.Unmarshal(rec.Backend, &info); err != nil {
		return rec, info, fmt.Errorf("%s: corrupt local state: %w", h, err)
	}
	return rec, info, nil
}

// alive reports whether the recorded runner process still runs.
func (info procInfo) alive() bool {
	if info.BootID != "" && info.BootID != bootID() {
		return false
	}
	start, ok := procStart(info.PID)
	return ok && (info.Start == 0 || start == info.Start)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// Wait follows h until it ends.
func (e *Executor) Wait(ctx context.Context, h executor.Handle, on func(executor.Event)) (executor.Result, error) {
	_, info, err := load(h)
	if err != nil {
		return executor.Result{}, err
	}
	emit := func(ev executor.Event) {
		if on != nil {
			on(ev)
		}
	}
	logs := executor.LogDir(h.WorkDir)
	e.mu.Lock()
	reaped := e.reaps[h.WorkDir]
	e.mu.Unlock()
	// When the runner is our own child, its end is known from the reaper (which also
	// records a killing signal); otherwise from /proc.
	ourChild := reaped != nil
	var limit time.Duration
	if info.Limit != "" {
		limit, _ = time.ParseDuration(info.Limit)
	}
	followers := executor.Followers(h.WorkDir, h.Array)
	reported := map[int]bool{}
	tasks := taskListOf(h.Array)
	emit(executor.Event{Time: time.Now(), Kind: executor.EventState, Task: -1, State: executor.StateRunning, Detail: "pid " + h.ID})
	tick := time.NewTicker(e.PollInterval)
	defer tick.Stop()
	for {
		_ = executor.PollAll(followers, emit)
		for _, t := range tasks {
			if reported[t] || h.Array == 0 {
				continue
			}
			if tr, ok := readTask(logs, t); ok {
				reported[t] = true
				emit(executor.Event{Time: time.Now(), Kind: executor.EventState, Task: t, State: tr.State, Detail: fmt.Sprintf("exit code %d", tr.ExitCode)})
			}
		}
		finished := exists(filepath.Join(logs, "done")) || (!ourChild && !info.alive())
		if !finished && limit > 0 && time.Since(info.Started) > limit && !exists(filepath.Join(logs, "timeout")) {
			_ = os.WriteFile(filepath.Join(logs, "timeout"), nil, 0o644)
			go func() { _ = e.kill(context.Background(), info) }()
		}
		if finished {
			_ = executor.FlushAll(followers, emit)
			res := result(h, info, logs)
			emit(executor.Event{Time: time.Now(), Kind: executor.EventState, Task: -1, State: res.State, Detail: detail(res)})
			if res.Err != nil {
				return res, res.Err
			}
			return res, nil
		}
		select {
		case <-ctx.Done():
			return executor.Result{State: executor.StateRunning, LogDir: logs}, ctx.Err()
		case <-reaped:
			reaped, ourChild = nil, false // a nil channel blocks; the next pass sees the end
		case <-tick.C:
		}
	}
}

func detail(r executor.Result) string {
	if r.Err != nil {
		return string(r.Err.Reason)
	}
	return "exit code 0"
}

func taskListOf(array int) []int { return executor.Job{Array: array}.Tasks() }

func readTask(logs string, t int) (executor.TaskResult, bool) {
	b, err := os.ReadFile(filepath.Join(logs, "exit."+taskTag(t)))
	if err != nil {
		return executor.TaskResult{Task: t}, false
	}
	rc, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return executor.TaskResult{Task: t}, false
	}
	tr := executor.TaskResult{Task: t, ExitCode: rc, State: executor.StateSucceeded}
	if rc != 0 {
		tr.State, tr.Reason = executor.StateFailed, executor.ReasonFailed
	}
	return tr, true
}

// result reads the outcome files of a job whose runner has ended.
func result(h executor.Handle, info procInfo, logs string) executor.Result {
	res := executor.Result{State: executor.StateSucceeded, Started: info.Started, LogDir: logs}
	if st, err := os.Stat(filepath.Join(logs, "done")); err == nil {
		res.Ended = st.ModTime()
	}
	// An explicit stop wins over whatever the killed task wrote on its way out.
	var stopped executor.Reason
	switch {
	case exists(filepath.Join(logs, "cancelled")):
		stopped = executor.ReasonCancelled
	case exists(filepath.Join(logs, "timeout")):
		stopped = executor.ReasonTimeout
	}
	runnerDone := exists(filepath.Join(logs, "done"))
	for _, t := range taskListOf(h.Array) {
		tr, ok := readTask(logs, t)
		switch {
		case ok && tr.State == executor.StateSucceeded:
		case stopped != "":
			tr = executor.TaskResult{Task: t, State: executor.StateFailed, Reason: stopped, ExitCode: tr.ExitCode}
		case ok:
			// Shell convention: 128+N means "killed by signal N".
			sig := 0
			if tr.ExitCode > 128 && tr.ExitCode < 128+65 {
				sig = tr.ExitCode - 128
			}
			tr.Detail = fmt.Sprintf("see %s", executor.LogPath(h.WorkDir, "stderr", t))
			if sig != 0 {
				tr.Detail = fmt.Sprintf("killed by signal %d; %s", sig, tr.Detail)
			}
		case runnerDone:
			tr = executor.TaskResult{Task: t, State: executor.StateFailed, Reason: executor.ReasonLost, Detail: "no exit status recorded"}
		default:
			d := "the runner process is gone without recording an exit status"
			if b, err := os.ReadFile(filepath.Join(logs, "runner-signal")); err == nil {
				d = fmt.Sprintf("the runner was killed by signal %s from outside polyglot", strings.TrimSpace(string(b)))
			}
			tr = executor.TaskResult{Task: t, State: executor.StateFailed, Reason: executor.ReasonLost, Detail: d}
		}
		res.Tasks = append(res.Tasks, tr)
		if tr.State != executor.StateSucceeded && res.Err == nil {
			res.State, res.ExitCode = executor.StateFailed, tr.ExitCode
			je := &executor.JobError{Handle: h, Task: t, Reason: tr.Reason, ExitCode: tr.ExitCode, Detail: tr.Detail}
			if tr.Reason == executor.ReasonFailed && tr.ExitCode > 128 && tr.ExitCode < 128+65 {
				je.Signal = tr.ExitCode - 128
			}
			if tr.Reason == executor.ReasonTimeout && info.Limit != "" {
				je.Detail = "exceeded its time limit of " + info.Limit
			}
			res.Err = je
		}
	}
	return res
}

// Cancel stops h: SIGTERM to its process group, SIGKILL after Grace. It returns once the
// runner is gone (or ctx ends).
func (e *Executor) Cancel(ctx context.Context, h executor.Handle) error {
	_, info, err := load(h)
	if err != nil {
		return err
	}
	logs := executor.LogDir(h.WorkDir)
	if exists(filepath.Join(logs, "done")) || !info.alive() {
		return nil
	}
	if err := os.WriteFile(filepath.Join(logs, "cancelled"), nil, 0o644); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return e.kill(ctx, info)
}

// kill terminates the process group led by the runner. The PID is checked against the
// recorded start time first so that a recycled PID's group is never signalled.
func (e *Executor) kill(ctx context.Context, info procInfo) error {
	if !info.alive() {
		return nil
	}
	if err := syscall.Kill(-info.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGTERM process group %d: %w", info.PID, err)
	}
	deadline := time.Now().Add(e.Grace)
	for time.Now().Before(deadline) {
		// Waiting only for the runner would miss grandchildren that ignore SIGTERM.
		if !groupAlive(info.PID) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := syscall.Kill(-info.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGKILL process group %d: %w", info.PID, err)
	}
	return nil
}
