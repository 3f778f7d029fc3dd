// Package executor runs polyglot's training and evaluation jobs somewhere — a local
// subprocess (package executor/local) or a Slurm cluster (package executor/slurm) — and lets a
// restarted polyglot process find them again.
//
// # Design
//
// A Job is a fully rendered command: argv, environment, the files it needs (scripts,
// configs) and a working folder of its own. The Executor interface has three verbs:
//
//   - Submit starts a job, or re-attaches to it. It is idempotent per (Job.Key, Job.Attempt):
//     every backend writes a small JSON state file (StateFile) into Job.WorkDir, and a Submit
//     that finds a state file for the same key and attempt returns the stored Handle instead of
//     starting the job again, whether the job is still running or already finished. To retry a
//     failed job, submit it again with Attempt+1; the logs of the earlier attempt are kept in
//     WorkDir/logs.attempt-N. A backend whose submission cannot be undone (Slurm) first records
//     an intent with a token it puts into the job (Submission.Intend), so a process that died
//     between submitting and recording finds and adopts the job instead of starting a second
//     one (see package executor/slurm).
//   - Wait follows a job to its end, reporting state changes and log lines as Events, and
//     returns its Result. A job that did not succeed yields a *JobError whose Reason says what
//     happened (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...) and whose Retryable method says whether
//     running it again unchanged can help.
//   - Cancel stops a job.
//
// A Handle is plain data (backend name, key, backend id, folder), so it can be stored and a
// fresh Executor of the same backend can Wait on or Cancel a handle made by another process.
//
// Logs always land in files inside the job folder (WorkDir/logs/stdout.log, or
// stdout.<task>.log for array jobs) and are streamed by tailing those files (Follower), so
// streaming works identically after a restart and for backends whose processes are not ours.
//
// # Adding a backend (Kubernetes, SkyPilot, ...)
//
// A Kubernetes executor would render the Job as a batch/v1 Job (Array → completionMode
// Indexed with completions=N, the index in JOB_COMPLETION_INDEX; Resources → requests/limits
// and nvidia.com/gpu; Files → a ConfigMap or an init container), store the Kubernetes
// namespace/name/uid as Handle.ID in the state file via SaveState, watch pod phases for Wait
// (Events from the watch, log lines from the pod log stream), and map pod termination reasons
// onto the Reason values here: OOMKilled → ReasonOutOfMemory, DeadlineExceeded (from
// activeDeadlineSeconds) → ReasonTimeout, node loss / eviction → ReasonNodeFail or
// ReasonPreempted. Nothing in core needs to change: callers only see Job, Handle, Event,
// Result and JobError.
package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Job is one rendered command to run.
type Job struct {
	// Key is the job's stable identity: a hash of everything that determines what the job
	// computes (see KeyOf). Submit uses it to re-attach instead of running the job twice.
	Key string
	// Attempt distinguishes retries of the same Key (0 for the first run).
	Attempt int
	// Name is a short human-readable label (Slurm job name, log prefix).
	Name string
	// Argv is the command; Argv[0] is looked up in PATH if it has no slash.
	Argv []string
	// Env is added to the environment the job inherits.
	Env map[string]string
	// Files are written into WorkDir (relative paths, no "..") before the job starts.
	Files map[string][]byte
	// WorkDir is the job's own folder; it is created and is the job's current directory.
	WorkDir string
	// Resources the job asks for. The local backend ignores all but TimeLimit.
	Resources Resources
	// Array > 0 makes an array job of Array tasks, numbered 0..Array-1; each task sees its
	// index in SLURM_ARRAY_TASK_ID (also set by the local backend, which runs the tasks
	// one after the other, so the same script works on both).
	Array int
}

// Resources a job asks its backend for.
type Resources struct {
	GPUs      int           // --gres=gpu:N
	CPUs      int           // --cpus-per-task
	MemoryMB  int           // --mem, in megabytes
	TimeLimit time.Duration // --time (rounded up to whole minutes by Slurm); 0 = backend default
	Partition string
	Account   string
	// Extra flags passed to the backend verbatim (for Slurm: sbatch options such as
	// "--constraint=a100" or "--qos=high").
	Extra []string
}

// Handle identifies a submitted job. It is plain data and can be stored and reused by
// another process running an Executor of the same Backend.
type Handle struct {
	Backend string `json:"backend"`
	Key     string `json:"key"`
	Attempt int    `json:"attempt"`
	ID      string `json:"id"` // backend id: a PID for local, a job id for Slurm
	WorkDir string `json:"work_dir"`
	Array   int    `json:"array,omitempty"`
}

func (h Handle) String() string { return fmt.Sprintf("%s job %s (key %s)", h.Backend, h.ID, h.Key) }

// State is a job's (or an array task's) lifecycle state.
type State string

const (
	StatePending   State = "PENDING"
	StateRunning   State = "RUNNING"
	StateSucceeded State = "SUCCEEDED"
	StateFailed    State = "FAILED" // any terminal state other than success; see JobError
)

// Terminal reports whether s is a final state.
func (s State) Terminal() bool { return s == StateSucceeded || s == StateFailed }

// EventKind tells what an Event carries.
type EventKind int

const (
	EventState EventKind = iota // State (and Detail) changed
	EventLog                    // a log line
)

// Event is something Wait observed.
type Event struct {
	Time   time.Time
	Kind   EventKind
	Task   int    // array task index; -1 for the whole job
	State  State  // EventState
	Detail string // EventState: backend-specific state or reason, e.g. "PENDING (Resources)"
	Stream string // EventLog: "stdout" or "stderr"
	Line   string // EventLog: the line, without its newline
}

// Result is how a job ended.
type Result struct {
	State    State
	ExitCode int // of the first failing task, or 0
	Tasks    []TaskResult
	Started  time.Time // zero when unknown
	Ended    time.Time // zero when unknown
	LogDir   string
	Err      *JobError // nil on success; also returned as Wait's error
}

// TaskResult is how one task of an array job (or the single task of a plain job) ended.
type TaskResult struct {
	Task     int
	State    State
	ExitCode int
	Reason   Reason
	Detail   string
}

// Executor runs jobs on one backend.
type Executor interface {
	// Submit starts j, or returns the Handle of the run already recorded in j.WorkDir for
	// the same Key and Attempt (running or finished).
	Submit(ctx context.Context, j Job) (Handle, error)
	// Wait follows h until it ends, calling on (which may be nil) for every Event from the
	// calling goroutine. It returns the Result; the error is a *JobError when the job ended
	// without success, or ctx.Err() when ctx ended first (the job keeps running).
	Wait(ctx context.Context, h Handle, on func(Event)) (Result, error)
	// Cancel stops h. Cancelling a finished job is not an error.
	Cancel(ctx context.Context, h Handle) error
}

// KeyOf hashes the parts that determine a job into a stable key (hex SHA-256, 32 chars).
// Parts are length-prefixed so ("ab","c") and ("a","bc") differ.
func KeyOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

var keyRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// Validate checks j and says what to fix.
func (j Job) Validate() error {
	var errs []error
	if !keyRE.MatchString(j.Key) {
		errs = append(errs, fmt.Errorf("Key %q: use 1-128 letters, digits, '.', '_' or '-' (see executor.KeyOf)", j.Key))
	}
	if j.Attempt < 0 {
		errs = append(errs, fmt.Errorf("Attempt %d: must be >= 0", j.Attempt))
	}
	if len(j.Argv) == 0 || j.Argv[0] == "" {
		errs = append(errs, errors.New("Argv is empty: give the command to run"))
	}
	if j.WorkDir == "" {
		errs = append(errs, errors.New("WorkDir is empty: every job needs a folder of its own"))
	} else if !filepath.IsAbs(j.WorkDir) {
		errs = append(errs, fmt.Errorf("WorkDir %q: must be an absolute path (the job may run on another machine or after a restart from another directory)", j.WorkDir))
	}
	for name := range j.Env {
		if name == "" || strings.ContainsAny(name, "=\x00") || !envNameRE.MatchString(name) {
			errs = append(errs, fmt.Errorf("Env name %q: use letters, digits and '_', not starting with a digit", name))
		}
	}
	for _, name := range sortedKeys(j.Files) {
		if err := checkRelPath(name); err != nil {
			errs = append(errs, fmt.Errorf("Files[%q]: %w", name, err))
		}
	}
	if j.Array < 0 {
		errs = append(errs, fmt.Errorf("Array %d: must be >= 0 (0 = not an array job)", j.Array))
	}
	r := j.Resources
	if r.GPUs < 0 || r.CPUs < 0 || r.MemoryMB < 0 || r.TimeLimit < 0 {
		errs = append(errs, fmt.Errorf("Resources %+v: negative values are not allowed", r))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid job %q: %w", j.Name, errors.Join(errs...))
	}
	return nil
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func checkRelPath(name string) error {
	if name == "" || filepath.IsAbs(name) {
		return errors.New("must be a non-empty relative path inside WorkDir")
	}
	clean := filepath.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return errors.New("must not leave WorkDir ('..')")
	}
	if clean == StateFile || clean == "logs" || strings.HasPrefix(clean, "logs"+string(filepath.Separator)) {
		return fmt.Errorf("%q is reserved by the executor", clean)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// SortedEnv returns j.Env as sorted NAME=value pairs (a stable order keeps rendered
// scripts byte-identical across runs).
func (j Job) SortedEnv() []string {
	out := make([]string, 0, len(j.Env))
	for _, k := range sortedKeys(j.Env) {
		out = append(out, k+"="+j.Env[k])
	}
	return out
}

// Tasks returns the task indexes of j: [0..Array-1], or [-1] for a plain job.
func (j Job) Tasks() []int { return taskList(j.Array) }

func taskList(array int) []int {
	if array <= 0 {
		return []int{-1}
	}
	ts := make([]int, array)
	for i := range ts {
		ts[i] = i
	}
	return ts
}
