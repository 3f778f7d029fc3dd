// Package slurm is the executor backend that runs jobs on a Slurm cluster through its
// command-line tools (sbatch, squeue, sacct, scontrol, scancel), which exist on every
// login node whatever the Slurm version or site configuration. The REST API (slurmrestd)
// is often not deployed, so it is not used.
//
// Submit renders Job into an sbatch script (WorkDir/logs/job.sbatch) whose #SBATCH lines
// carry the resources (--partition, --account, --gres=gpu:N, --cpus-per-task, --mem,
// --time, --array, Extra flags) and send stdout/stderr into WorkDir/logs, submits it with
// `sbatch --parsable`, and records the Slurm job id in the job's state file, so any later
// polyglot process re-attaches by reading it.
//
// # At most one submission per (Key, Attempt), across crashes
//
// A process can die between sbatch accepting a job and the job id reaching the state file.
// So before sbatch runs, Submit durably records an intent: a state record without job id
// but with a random submission token, which also goes into the Slurm job name
// ("<name>.<token>", readable in squeue) and into a marker file the script writes when the
// job starts (WorkDir/logs/slurm-job-id.<token>, holding the job id). A Submit that finds
// an intent looks the token up — the marker file, then `squeue -t all -u <uid> -n <name>`
// (pending, running, and ended jobs still in slurmctld's memory for MinJobAge), then
// `sacct --name` when accounting is enabled — and adopts the job it finds; only when none
// of them knows the token does it submit, with the same token. When Slurm cannot be asked
// (slurmctld down), Submit fails rather than risk a second job. sbatch inherits the job
// folder's lock, so a restart that races an orphaned sbatch still talking to slurmctld
// waits for it. What is left, without accounting and only once slurmctld has purged the
// job (MinJobAge after it ended): a job cancelled before it started is submitted again
// (it never ran, so nothing is paid twice), and so is one that ran on nodes that do not
// share WorkDir (no marker; log streaming needs a shared WorkDir anyway). A retry (Attempt+1) over an
// attempt that was only ever an intent cancels that attempt's job if it finds one.
// scontrol is not asked: it knows exactly the jobs squeue -t all lists, and without a
// name filter it would return every job on the cluster.
//
// Jobs are submitted with --no-requeue: a node
// failure or preemption then ends the job with NODE_FAIL/PREEMPTED, which Wait reports as a
// retryable error, and polyglot decides about the retry (Attempt+1) itself.
//
// Wait polls (every PollInterval) `squeue` for live state, one line per array task. Once
// no task is pending or running it reads final states and exit codes from `sacct`; when
// accounting is disabled (no slurmdbd) it falls back to `scontrol show job`, which keeps
// finished jobs for the cluster's MinJobAge (300 s by default — re-attaching later than
// that to a job that ended meanwhile yields ReasonLost). Log lines are streamed by tailing
// the output files, which assumes WorkDir is on a filesystem shared with the compute
// nodes — true of any Slurm cluster's home/project/scratch space.
//
// Slurm's terminal states map to executor.Reason: TIMEOUT and DEADLINE → ReasonTimeout,
// OUT_OF_MEMORY → ReasonOutOfMemory, NODE_FAIL and BOOT_FAIL → ReasonNodeFail, PREEMPTED →
// ReasonPreempted, CANCELLED → ReasonCancelled, FAILED and others → ReasonFailed with the
// exit code and signal from Slurm's "code:signal" ExitCode.
package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/core/secret"
)

// Backend is the name recorded in handles of this executor.
const Backend = "slurm"

// Executor submits jobs to Slurm. Create it with New and adjust the fields before use.
type Executor struct {
	// PollInterval is how often Wait asks Slurm for the job's state and reads new log
	// lines (default 5s; keep it >= a few seconds on a busy production cluster).
	PollInterval time.Duration
	// Partition and Account are used when a Job's Resources leave them empty.
	Partition string
	Account   string
	// BinDir holds the Slurm commands; empty means look them up in PATH.
	BinDir string
	// Shell is the interpreter line of the rendered script (default /bin/sh).
	Shell string
	// MaxQueryFailures is how many polls in a row may fail (slurmctld restarting, network
	// blips) before Wait gives up (default 20).
	MaxQueryFailures int
	// Requeue lets Slurm requeue the job itself after a node failure or preemption
	// (default false: the job ends and Wait reports a retryable error).
	Requeue bool
	// Log receives warnings (an adopted or cancelled orphan job, a failed sacct lookup).
	Log zerolog.Logger

	// crash, when set by tests, is called at the named points of Submit ("before-sbatch",
	// "after-sbatch"); a non-nil error makes Submit return at once, as if the process had
	// died there (nothing is cleaned up or recorded).
	crash func(point string) error
}

// New returns an executor with default settings.
func New() *Executor {
	return &Executor{PollInterval: 5 * time.Second, Shell: "/bin/sh", MaxQueryFailures: 20,
		Log: zerolog.New(secret.Writer(os.Stderr)).With().Timestamp().Logger()}
}

var _ executor.Executor = (*Executor)(nil)

// info is the backend-specific part of the state file.
type info struct {
	JobID   string `json:"job_id"`
	Cluster string `json:"cluster,omitempty"`
	Script  string `json:"script"`
	// AdoptedFrom says where the job id was found when the process that submitted the job
	// died before recording it.
	AdoptedFrom string `json:"adopted_from,omitempty"`
}

func (e *Executor) bin(name string) string {
	if e.BinDir == "" {
		return name
	}
	return filepath.Join(e.BinDir, name)
}

// run executes one Slurm command and returns its stdout; the error carries stderr, which
// is where Slurm explains itself.
func (e *Executor) run(ctx context.Context, name string, args ...string) (string, error) {
	return e.runHeld(ctx, nil, name, args...)
}

// runHeld is run with the job folder's lock inherited by the command (s may be nil).
func (e *Executor) runHeld(ctx context.Context, s *executor.Submission, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.bin(name), args...)
	if s != nil {
		s.HoldDuring(cmd)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s not found: install the Slurm client tools or set Executor.BinDir", name)
		}
		return out.String(), &cmdError{cmd: name + " " + strings.Join(args, " "), msg: msg, err: err}
	}
	return out.String(), nil
}

type cmdError struct {
	cmd, msg string
	err      error
}

func (c *cmdError) Error() string { return fmt.Sprintf("%s: %v: %s", c.cmd, c.err, c.msg) }
func (c *cmdError) Unwrap() error { return c.err }

// Script renders the sbatch script for j. It is exported so callers can show it (dry run).
// Submit renders the same script with a submission token: the job name then ends in
// ".<token>" and the script records its job id in WorkDir/logs/slurm-job-id.<token>.
func (e *Executor) Script(j executor.Job) (string, error) { return e.script(j, "") }

func (e *Executor) script(j executor.Job, token string) (string, error) {
	if err := j.Validate(); err != nil {
		return "", err
	}
	r := j.Resources
	if r.Partition == "" {
		r.Partition = e.Partition
	}
	if r.Account == "" {
		r.Account = e.Account
	}
	// #SBATCH lines are split on whitespace by sbatch; values with spaces or newlines
	// would silently turn into other options.
	check := func(what, v string) error {
		if strings.ContainsAny(v, " \t\r\n") {
			return fmt.Errorf("job %q: %s %q contains whitespace, which sbatch directives cannot carry", j.Name, what, v)
		}
		return nil
	}
	name := jobName(j, token)
	for what, v := range map[string]string{"WorkDir": j.WorkDir, "Partition": r.Partition, "Account": r.Account} {
		if err := check(what, v); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	shell := e.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	fmt.Fprintf(&b, "#!%s\n# Rendered by polyglot (core/executor/slurm) for job key %s, attempt %d.\n", shell, j.Key, j.Attempt)
	d := func(format string, a ...any) { fmt.Fprintf(&b, "#SBATCH "+format+"\n", a...) }
	d("--job-name=%s", name)
	d("--chdir=%s", j.WorkDir)
	out, errf := executor.LogPath(j.WorkDir, "stdout", -1), executor.LogPath(j.WorkDir, "stderr", -1)
	if j.Array > 0 {
		// %a is Slurm's array-task index; it yields executor.LogPath(dir, stream, task).
		out, errf = filepath.Join(executor.LogDir(j.WorkDir), "stdout.%a.log"), filepath.Join(executor.LogDir(j.WorkDir), "stderr.%a.log")
	}
	d("--output=%s", out)
	d("--error=%s", errf)
	if r.Partition != "" {
		d("--partition=%s", r.Partition)
	}
	if r.Account != "" {
		d("--account=%s", r.Account)
	}
	if r.GPUs > 0 {
		d("--gres=gpu:%d", r.GPUs)
	}
	if r.CPUs > 0 {
		d("--cpus-per-task=%d", r.CPUs)
	}
	if r.MemoryMB > 0 {
		d("--mem=%dM", r.MemoryMB)
	}
	if r.TimeLimit > 0 {
		// Slurm counts whole minutes; round up so the job gets at least what it asked for.
		d("--time=%d", int((r.TimeLimit+time.Minute-1)/time.Minute))
	}
	if j.Array > 0 {
		d("--array=0-%d", j.Array-1)
	}
	if !e.Requeue {
		d("--no-requeue")
	}
	for _, x := range r.Extra {
		if !strings.HasPrefix(x, "-") || strings.ContainsAny(x, "\r\n") {
			return "", fmt.Errorf("job %q: Extra flag %q: give one sbatch option per entry, starting with '-'", j.Name, x)
		}
		d("%s", x)
	}
	fmt.Fprintf(&b, "\nexport POLYGLOT_JOB_KEY=%s\n", shq(j.Key))
	if j.Array > 0 {
		b.WriteString("export POLYGLOT_ARRAY_TASK_ID=\"$SLURM_ARRAY_TASK_ID\"\n")
	}
	for _, kv := range j.SortedEnv() {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shq(v))
	}
	if token != "" {
		// Evidence that outlives Slurm's memory of the job (see markerPath); written via a
		// rename so a reader never sees it half-written, whichever array task writes it.
		m := shq(markerPath(j.WorkDir, token))
		fmt.Fprintf(&b, "printf '%%s\\n' \"${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}\" > %s.tmp.\"${SLURM_ARRAY_TASK_ID:-0}\" && mv -f %s.tmp.\"${SLURM_ARRAY_TASK_ID:-0}\" %s\n", m, m, m)
	}
	b.WriteString("exec")
	for _, a := range j.Argv {
		b.WriteString(" " + shq(a))
	}
	b.WriteString("\n")
	return b.String(), nil
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Submit starts j with sbatch, or returns the handle already recorded in j.WorkDir.
//
// It submits at most once per (Key, Attempt), even across crashes: before sbatch runs, an
// intent with a fresh submission token is recorded durably, and the token goes into the
// Slurm job name. A later Submit that finds the intent without a job id asks Slurm for the
// token (see lookup) and adopts the job it finds, or submits with the same token when
// Slurm has never seen it.
func (e *Executor) Submit(ctx context.Context, j executor.Job) (executor.Handle, error) {
	if _, err := e.Script(j); err != nil {
		return executor.Handle{}, err
	}
	s, err := executor.Begin(j, Backend)
	if err != nil {
		return executor.Handle{}, err
	}
	defer s.Close()
	if s.Existing != nil {
		return s.Existing.Handle, nil
	}
	path := filepath.Join(executor.LogDir(j.WorkDir), "job.sbatch")
	var token string
	if in := s.Intent; in != nil {
		if in.Token == "" {
			return executor.Handle{}, fmt.Errorf("job %q: %s records a submission without job id or token, so it cannot be looked up: check squeue for a job named %s, then delete the file",
				j.Name, filepath.Join(j.WorkDir, executor.StateFile), jobName(j, ""))
		}
		token = in.Token
		f, err := e.lookup(ctx, markerPath(j.WorkDir, token), jobName(j, token), in.Submitted)
		if err != nil {
			return executor.Handle{}, fmt.Errorf("job %q: an earlier submission (token %s) may have reached Slurm but cannot be checked, so it is not submitted again: %w", j.Name, token, err)
		}
		if f.ID != "" {
			h := executor.Handle{Backend: Backend, Key: j.Key, Attempt: j.Attempt, ID: f.ID, WorkDir: j.WorkDir, Array: j.Array}
			if _, err := s.Commit(h, info{JobID: f.ID, Script: path, AdoptedFrom: f.Source}); err != nil {
				return executor.Handle{}, fmt.Errorf("job %q: record adopted Slurm job %s: %w", j.Name, f.ID, err)
			}
			e.Log.Info().Str("job", j.Name).Str("slurm_job", f.ID).Str("from", f.Source).
				Msg("slurm: adopted a job submitted by a process that died before recording it")
			return h, nil
		}
	} else {
		if token, err = executor.NewToken(); err != nil {
			return executor.Handle{}, err
		}
	}
	if s.Superseded != nil && s.Superseded.Intent() && s.Superseded.Token != "" {
		e.cancelOrphan(ctx, j, *s.Superseded)
	}
	script, err := e.script(j, token)
	if err != nil {
		return executor.Handle{}, err
	}
	if err := s.Prepare(); err != nil {
		return executor.Handle{}, err
	}
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return executor.Handle{}, err
	}
	if s.Intent == nil {
		if _, err := s.Intend(token); err != nil {
			return executor.Handle{}, err
		}
	}
	if err := e.crashAt("before-sbatch"); err != nil {
		return executor.Handle{}, err
	}
	// The lock is inherited by sbatch: should this process die while sbatch still talks
	// to slurmctld, the next Submit waits for sbatch before looking the token up.
	out, err := e.runHeld(ctx, s, "sbatch", "--parsable", path)
	if err != nil {
		return executor.Handle{}, fmt.Errorf("job %q: submit: %w", j.Name, err)
	}
	if err := e.crashAt("after-sbatch"); err != nil {
		return executor.Handle{}, err
	}
	// --parsable prints "jobid" or "jobid;cluster".
	id, cluster, _ := strings.Cut(strings.TrimSpace(out), ";")
	if !isJobID(id) {
		return executor.Handle{}, fmt.Errorf("job %q: sbatch printed %q, expected a job id", j.Name, out)
	}
	h := executor.Handle{Backend: Backend, Key: j.Key, Attempt: j.Attempt, ID: id, WorkDir: j.WorkDir, Array: j.Array}
	if _, err := s.Commit(h, info{JobID: id, Cluster: cluster, Script: path}); err != nil {
		// Unrecorded, the job could never be found again: cancel it rather than leak it.
		_, _ = e.run(context.WithoutCancel(ctx), "scancel", id)
		return executor.Handle{}, fmt.Errorf("job %q: record state: %w", j.Name, err)
	}
	return h, nil
}

func (e *Executor) crashAt(point string) error {
	if e.crash == nil {
		return nil
	}
	return e.crash(point)
}

// cancelOrphan cancels the job, if any, of an earlier attempt that was only ever an intent:
// nobody waits on it, and the retry about to be submitted does its work again.
func (e *Executor) cancelOrphan(ctx context.Context, j executor.Job, old executor.Record) {
	oj := j
	oj.Name, oj.Attempt = old.Name, old.Handle.Attempt
	name := jobName(oj, old.Token)
	// Begin moved the earlier attempt's logs, and its marker with them, to logs.attempt-N.
	marker := filepath.Join(j.WorkDir, fmt.Sprintf("logs.attempt-%d", old.Handle.Attempt), filepath.Base(markerPath(j.WorkDir, old.Token)))
	f, err := e.lookup(ctx, marker, name, old.Submitted)
	switch {
	case err != nil:
		e.Log.Warn().Err(err).Str("job_name", name).Msg("slurm: could not check whether an unrecorded earlier attempt is still running; check squeue")
	case f.ID != "":
		_, cerr := e.run(context.WithoutCancel(ctx), "scancel", f.ID)
		e.Log.Warn().AnErr("scancel", cerr).Str("slurm_job", f.ID).Int("attempt", old.Handle.Attempt).
			Msg("slurm: cancelled the unrecorded job of an earlier attempt, which is being retried")
	}
}

func load(h executor.Handle) (info, error) {
	var in info
	if h.Backend != Backend {
		return in, fmt.Errorf("%s: not a %s handle", h, Backend)
	}
	rec, err := executor.LoadState(h.WorkDir)
	if err != nil {
		return in, fmt.Errorf("%s: read state: %w", h, err)
	}
	if rec.Handle.Key != h.Key || rec.Handle.Attempt != h.Attempt || rec.Handle.ID != h.ID {
		return in, fmt.Errorf("%s: WorkDir now holds %s attempt %d; the handle is stale", h, rec.Handle, rec.Handle.Attempt)
	}
	if err := json.Unmarshal(rec.Backend, &in); err != nil {
		return in, fmt.Errorf("%s: corrupt slurm state: %w", h, err)
	}
	return in, nil
}

// Cancel stops every task of h with scancel. A finished job is not an error.
func (e *Executor) Cancel(ctx context.Context, h executor.Handle) error {
	if _, err := load(h); err != nil {
		return err
	}
	_, err := e.run(ctx, "scancel", h.ID)
	var ce *cmdError
	if errors.As(err, &ce) && (strings.Contains(ce.msg, "already completing or completed") || strings.Contains(ce.msg, "Invalid job id")) {
		return nil
	}
	return err
}
