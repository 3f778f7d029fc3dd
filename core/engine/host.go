package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/core/executor/local"
	"github.com/polyglot-teachers/polyglot/core/executor/slurm"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// host serves plugins' callbacks: a judge metric asks a teacher of the
// experiment (through the same rate limits, retries and budgets as
// generation), and a trainer runs its job on the student's executor.
type host struct {
	r            *Runner
	once         sync.Once
	execs        map[string]executor.Executor
	studentByKey sync.Map // unit key -> *spec.Student, for RunJob
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
			out[i], errs[i] = h.r.gen.call(ctx, teacher, c, nil)
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

// RunJob runs a trainer's job on the executor its student declares. The
// job key makes submission idempotent: after a restart the executor
// re-attaches to a job that is still running instead of starting it again.
func (h *host) RunJob(ctx context.Context, job *sdk.Job, onLog func(string)) (*sdk.JobResult, error) {
	var st *spec.Student
	for _, s := range h.r.P.Exp.Students {
		if strings.HasPrefix(job.Name, s.Name) || len(h.r.P.Exp.Students) == 1 {
			st = s
		}
	}
	kind := "local"
	ej := executor.Job{Key: job.Key, Name: job.Name, Argv: job.Argv, Env: job.Env, Files: job.Files, WorkDir: job.WorkDir, Array: job.Array,
		Resources: executor.Resources{GPUs: job.GPUs, CPUs: job.CPUs, MemoryMB: int(job.MemoryMB)}}
	if job.TimeLimit != "" {
		if d, err := parseSlurmTime(job.TimeLimit); err == nil {
			ej.Resources.TimeLimit = d
		}
	}
	if st != nil && st.Executor.Kind != "" {
		kind = st.Executor.Kind
		ej.Resources.Partition, ej.Resources.Account = st.Executor.Partition, st.Executor.Account
		if st.Executor.GPUs > 0 {
			ej.Resources.GPUs = st.Executor.GPUs
		}
		if st.Executor.Time != "" {
			if d, err := parseSlurmTime(st.Executor.Time); err == nil {
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
	const maxAttempts = 3
	for attempt := 0; ; attempt++ {
		ej.Attempt = attempt
		hd, err := ex.Submit(ctx, ej)
		if err != nil {
			return nil, err
		}
		res, err := ex.Wait(ctx, hd, func(ev executor.Event) {
			if ev.Kind == executor.EventLog && onLog != nil {
				onLog(ev.Line)
			}
		})
		if ctx.Err() != nil {
			// Cancelled by the user: stop the job too (a restart would
			// otherwise find it running and re-attach, which is also fine).
			_ = ex.Cancel(context.Background(), hd)
			return nil, ctx.Err()
		}
		out := &sdk.JobResult{ExitCode: res.ExitCode, State: string(res.State), WorkDir: job.WorkDir}
		if err != nil {
			out.Error = err.Error()
			out.Retryable = executor.IsRetryable(err)
			if out.Retryable && attempt+1 < maxAttempts {
				h.r.log.Warn().Str("job", job.Name).Err(err).Int("attempt", attempt+1).Msg("job failed for a reason worth retrying; retrying")
				continue
			}
		}
		return out, nil
	}
}

// parseSlurmTime reads "HH:MM:SS", "MM:SS", "D-HH:MM:SS", minutes, or a Go duration.
func parseSlurmTime(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	days := 0
	if a, b, ok := strings.Cut(s, "-"); ok {
		if _, err := fmt.Sscanf(a, "%d", &days); err != nil {
			return 0, err
		}
		s = b
	}
	parts := strings.Split(s, ":")
	nums := make([]int, len(parts))
	for i, p := range parts {
		if _, err := fmt.Sscanf(p, "%d", &nums[i]); err != nil {
			return 0, fmt.Errorf("bad time %q", s)
		}
	}
	var d time.Duration
	switch len(nums) {
	case 1:
		d = time.Duration(nums[0]) * time.Minute
	case 2:
		d = time.Duration(nums[0])*time.Minute + time.Duration(nums[1])*time.Second
	case 3:
		d = time.Duration(nums[0])*time.Hour + time.Duration(nums[1])*time.Minute + time.Duration(nums[2])*time.Second
	default:
		return 0, fmt.Errorf("bad time %q", s)
	}
	return d + time.Duration(days)*24*time.Hour, nil
}
