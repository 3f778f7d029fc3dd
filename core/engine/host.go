package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/core/executor/local"
	"github.com/polyglot-teachers/polyglot/core/executor/slurm"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// host serves plugins' callbacks: a judge metric asks a teacher of the
// experiment (through the same rate limits, retries and budgets as
// generation), and a trainer runs its job on the student's executor.
type host struct {
	r     *Runner
	once  sync.Once
	execs map[string]executor.Executor
}

func (h *host) Generate(ctx context.Context, teacher string, calls []*sdk.Call) ([]*sdk.Result, error) {
	if _, ok := h.r.P.Bound.Teachers[teacher]; !ok {
		names := make([]string, 0, len(h.r.P.Bound.Teachers))
		for n := range h.r.P.Bound.Teachers {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("no teacher %q in the experiment (teachers: %s)", teacher, strings.Join(names, ", "))
	}
	out := make([]*sdk.Result, len(calls))
	var wg sync.WaitGroup
	errs := make([]error, len(calls))
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = h.r.gen.call(ctx, teacher, c, "", nil, nil, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, err
		}
		if out[i] == nil {
			return nil, errors.New("no result")
		}
	}
	return out, nil
}

func (h *host) executorFor(kind string) executor.Executor {
	h.once.Do(func() {
		h.execs = map[string]executor.Executor{"local": local.New(), "slurm": slurm.New()}
	})
	return h.execs[kind]
}

// studentOf finds the student whose unit asked for job. Trainers set the
// job key to the unit key (sdk.TrainRequest.Key / EvalRequest.Key); a job
// with another key is matched by its folder, which lies inside the unit's
// WorkDir. Guessing from job names is not possible: they are the trainer's
// ("trl-train"), not the student's.
func (h *host) studentOf(job *sdk.Job) (*spec.Student, error) {
	u := h.r.P.Plan.Unit(job.Key)
	if u == nil && job.WorkDir != "" {
		for _, c := range h.r.P.Plan.Units {
			if c.Stage != plan.Train && c.Stage != plan.Evaluate {
				continue
			}
			// The folder Runner.WorkDir gives the unit (without creating it).
			dir := filepath.Join(h.r.Store.Dir(), "work", string(c.Stage), c.Key[:16])
			if rel, err := filepath.Rel(dir, job.WorkDir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				u = c
				break
			}
		}
	}
	if u != nil {
		if st := h.r.P.Exp.Student(u.Student); st != nil {
			return st, nil
		}
	}
	if len(h.r.P.Exp.Students) == 1 {
		return h.r.P.Exp.Students[0], nil
	}
	return nil, fmt.Errorf("job %q (key %q, folder %s) belongs to no training or evaluation unit: a trainer must set the job's Key to the request's Key, or put it under the request's WorkDir", job.Name, job.Key, job.WorkDir)
}

// RunJob runs a trainer's job on the executor its student declares. The
// job key makes submission idempotent: after a restart the executor
// re-attaches to a job that is still running instead of starting it again.
func (h *host) RunJob(ctx context.Context, job *sdk.Job, onLog func(string)) (*sdk.JobResult, error) {
	st, err := h.studentOf(job)
	if err != nil {
		return nil, err
	}
	kind := "local"
	ej := executor.Job{Key: job.Key, Name: job.Name, Argv: job.Argv, Env: job.Env, Files: job.Files, WorkDir: job.WorkDir, Array: job.Array,
		Resources: executor.Resources{GPUs: job.GPUs, CPUs: job.CPUs, MemoryMB: int(job.MemoryMB)}}
	if job.TimeLimit != "" {
		if d, err := spec.ParseSlurmTime(job.TimeLimit); err == nil {
			ej.Resources.TimeLimit = d
		}
	}
	if st.Executor.Kind != "" {
		kind = st.Executor.Kind
		ej.Resources.Partition, ej.Resources.Account = st.Executor.Partition, st.Executor.Account
		// gpus written in the executor block wins over the trainer's
		// request, 0 included: a partition without GPU gres (CPU nodes, a
		// test cluster) would otherwise reject every job.
		if _, set := st.Executor.Ranges["gpus"]; set || st.Executor.GPUs > 0 {
			ej.Resources.GPUs = st.Executor.GPUs
		}
		if st.Executor.Time != "" {
			if d, err := spec.ParseSlurmTime(st.Executor.Time); err == nil {
				ej.Resources.TimeLimit = d
			}
		}
		if st.Executor.QOS != "" {
			ej.Resources.Extra = append(ej.Resources.Extra, "--qos="+st.Executor.QOS)
		}
		keys := make([]string, 0, len(st.Executor.Extra))
		for k := range st.Executor.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ej.Resources.Extra = append(ej.Resources.Extra, fmt.Sprintf("--%s=%s", k, st.Executor.Extra[k]))
		}
	}
	ex := h.executorFor(kind)
	if ex == nil {
		return nil, fmt.Errorf("unknown executor %q", kind)
	}
	if ej.Key == "" {
		ej.Key = executor.KeyOf(job.Name, strings.Join(job.Argv, " "), job.WorkDir)
	}
	// Continue from the attempt an earlier process recorded (submitting an
	// older attempt than the folder holds is refused), or start the next one
	// when that attempt's failure was already reported: the user is running
	// again to retry (after raising the time, say), and re-attaching would
	// report the old outcome forever. A job that was still running, or ended
	// unobserved, is re-attached to and its outcome used.
	first := 0
	if rec, err := executor.LoadState(job.WorkDir); err == nil && rec.Handle.Key == ej.Key {
		first = rec.Handle.Attempt
		if reportedFailure(job.WorkDir) == first {
			first++
		}
	}
	const maxAttempts = 3
	for attempt := first; ; attempt++ {
		ej.Attempt = attempt
		submitted := time.Now()
		hd, err := ex.Submit(ctx, ej)
		if err != nil {
			return nil, err
		}
		rec := store.Job{Key: ej.Key, Attempt: attempt, Student: st.Name, Name: ej.Name, Backend: hd.Backend, ID: hd.ID,
			GPUs: ej.Resources.GPUs, Tasks: max(ej.Array, 1), State: string(executor.StatePending), Submitted: submitted}
		h.recordJob(rec)
		res, err := ex.Wait(ctx, hd, func(ev executor.Event) {
			if ev.Kind == executor.EventLog && onLog != nil {
				onLog(ev.Line)
			}
			if ev.Kind == executor.EventState && ev.State == executor.StateRunning && rec.Started.IsZero() {
				rec.State, rec.Started = string(executor.StateRunning), cmp.Or(ev.Time, time.Now())
				h.recordJob(rec)
			}
		})
		if ctx.Err() == nil {
			rec.State = string(res.State)
			rec.Started = cmp.Or(res.Started, rec.Started)
			rec.Ended = cmp.Or(res.Ended, time.Now())
			h.recordJob(rec)
		}
		if ctx.Err() != nil {
			// Cancelled by the user: stop the job too (a restart would
			// otherwise find it running and re-attach, which is also fine).
			_ = ex.Cancel(context.Background(), hd)
			// Its GPU time ends here, not whenever the view is looked at.
			rec.State, rec.Ended = "CANCELLED", time.Now()
			h.recordJob(rec)
			return nil, ctx.Err()
		}
		if err == nil {
			// Slurm's word for success, which trainers check for.
			return &sdk.JobResult{ExitCode: res.ExitCode, State: "COMPLETED", WorkDir: job.WorkDir}, nil
		}
		var je *executor.JobError
		if !errors.As(err, &je) {
			return nil, err // the executor could not follow the job (squeue failing, corrupt state)
		}
		if je.Retryable() && attempt+1 < first+maxAttempts {
			h.r.log.Warn().Str("job", job.Name).Err(err).Int("attempt", attempt+1).Msg("job failed for a reason worth retrying; retrying")
			continue
		}
		if err := os.WriteFile(filepath.Join(job.WorkDir, reportedFile), []byte(strconv.Itoa(attempt)+"\n"), 0o644); err != nil {
			h.r.log.Warn().Err(err).Str("job", job.Name).Msg("cannot record the failure; the next run will report it again instead of retrying")
		}
		return &sdk.JobResult{ExitCode: res.ExitCode, State: string(je.Reason), Error: jobErrorText(je, st, kind, ej.Resources.TimeLimit), Retryable: je.Retryable(), WorkDir: job.WorkDir}, nil
	}
}

// recordJob keeps a job's GPUs and times in the store (for GPU-hours); a
// failure to record is logged, never fatal to the job.
func (h *host) recordJob(j store.Job) {
	if err := h.r.Store.PutJob(j); err != nil {
		h.r.log.Warn().Err(err).Str("job", j.Name).Msg("cannot record the job's GPU time")
	}
}

// reportedFile, in a job's folder, holds the attempt whose failure RunJob
// reported to the trainer.
const reportedFile = ".polyglot-reported-failure"

// reportedFailure returns the attempt recorded in reportedFile, or -1.
func reportedFailure(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, reportedFile))
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// jobErrorText says what happened to a job in the spec's terms: the
// executor's own hint speaks of Resources fields, which users never see.
// The unit is named by the engine when it reports the failure.
func jobErrorText(je *executor.JobError, st *spec.Student, kind string, limit time.Duration) string {
	what := string(je.Reason)
	switch {
	case je.Reason == executor.ReasonFailed && je.Signal != 0:
		what += fmt.Sprintf(" (killed by signal %d)", je.Signal)
	case je.Reason == executor.ReasonFailed:
		what += fmt.Sprintf(" (exit code %d)", je.ExitCode)
	}
	if je.Detail != "" {
		what += ": " + je.Detail
	}
	hint := je.Hint()
	switch je.Reason {
	case executor.ReasonTimeout:
		if kind == "slurm" && st.Executor.Time != "" {
			hint = fmt.Sprintf("raise time (now %q) in the executor block of student %q", st.Executor.Time, st.Name)
		} else if kind == "slurm" {
			hint = fmt.Sprintf("set a longer time in the executor block of student %q (the job had %s)", st.Name, limit)
		} else {
			hint = fmt.Sprintf("raise the time limit (%s) in the trainer config of student %q", limit, st.Name)
			if st.Trainer == "trl" {
				hint += " (time_limit)"
			}
		}
	case executor.ReasonOutOfMemory:
		hint = "it ran out of memory: lower the batch size or max_length"
		if kind == "slurm" {
			hint += fmt.Sprintf(", or ask for more with extra = { mem = \"64G\" } in the executor block of student %q", st.Name)
		}
	case executor.ReasonFailed:
		hint = "read its log in " + filepath.Join(je.Handle.WorkDir, "logs")
	}
	return fmt.Sprintf("%s job %s: %s; %s", je.Handle.Backend, je.Handle.ID, what, hint)
}
