package slurm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/core/executor"
)

// taskState is what Slurm says about one task (task -1 for a plain job).
type taskState struct {
	Task     int
	State    string // Slurm's state word, e.g. RUNNING, TIMEOUT
	Reason   string // Slurm's reason, e.g. Resources, TimeLimit; "" when unknown
	ExitCode int
	Signal   int
	HasExit  bool // ExitCode/Signal are known
}

// terminal lists Slurm's final job states.
var terminal = map[string]bool{
	"COMPLETED": true, "FAILED": true, "TIMEOUT": true, "OUT_OF_MEMORY": true, "NODE_FAIL": true,
	"BOOT_FAIL": true, "PREEMPTED": true, "CANCELLED": true, "DEADLINE": true, "REVOKED": true,
	"SPECIAL_EXIT": true,
}

// stateWord normalises Slurm's state text: sacct writes "CANCELLED by 1000", squeue may
// append "+" for truncated states in some versions.
func stateWord(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ' '); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, "+")
}

// taskIDs expands the task part of a Slurm job id: "123" → [-1], "123_4" → [4],
// "123_[0-2,5]" or "0-2,5%2" → [0 1 2 5].
func taskIDs(jobID, field string) ([]int, bool) {
	field = strings.TrimSpace(field)
	base, rest, isArray := strings.Cut(field, "_")
	if base != jobID {
		return nil, false
	}
	if !isArray {
		return []int{-1}, true
	}
	return expandRange(rest)
}

func expandRange(s string) ([]int, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if i := strings.IndexByte(s, '%'); i >= 0 { // "%N" is the array's concurrency limit
		s = s[:i]
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, false
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, true
}

// parseExit reads Slurm's "code:signal" exit code.
func parseExit(s string) (code, sig int, ok bool) {
	c, g, found := strings.Cut(strings.TrimSpace(s), ":")
	code, err1 := strconv.Atoi(c)
	if !found {
		return code, 0, err1 == nil
	}
	sig, err2 := strconv.Atoi(g)
	return code, sig, err1 == nil && err2 == nil
}

// parseSqueue reads `squeue -h -r -t all -o %i|%T|%r` output.
func parseSqueue(jobID, out string) map[int]taskState {
	m := map[int]taskState{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) < 3 {
			continue
		}
		tasks, ok := taskIDs(jobID, f[0])
		if !ok {
			continue
		}
		for _, t := range tasks {
			m[t] = taskState{Task: t, State: stateWord(f[1]), Reason: strings.TrimSpace(f[2])}
		}
	}
	return m
}

// parseSacct reads `sacct -n -P -X -o JobID,State,ExitCode` output.
func parseSacct(jobID, out string) map[int]taskState {
	m := map[int]taskState{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) < 3 {
			continue
		}
		tasks, ok := taskIDs(jobID, f[0])
		if !ok {
			continue
		}
		code, sig, hasExit := parseExit(f[2])
		for _, t := range tasks {
			m[t] = taskState{Task: t, State: stateWord(f[1]), ExitCode: code, Signal: sig, HasExit: hasExit}
		}
	}
	return m
}

// parseScontrol reads `scontrol show job -o <id>` output: one record per line of
// space-separated Key=Value pairs (array tasks carry ArrayJobId and ArrayTaskId).
func parseScontrol(jobID, out string) map[int]taskState {
	m := map[int]taskState{}
	for _, line := range strings.Split(out, "\n") {
		kv := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				if _, dup := kv[k]; !dup {
					kv[k] = v
				}
			}
		}
		if kv["JobState"] == "" {
			continue
		}
		tasks := []int{-1}
		if arr := kv["ArrayJobId"]; arr != "" {
			if arr != jobID {
				continue
			}
			var ok bool
			if tasks, ok = expandRange(kv["ArrayTaskId"]); !ok {
				continue
			}
		} else if kv["JobId"] != jobID {
			continue
		}
		code, sig, hasExit := parseExit(kv["ExitCode"])
		for _, t := range tasks {
			m[t] = taskState{Task: t, State: stateWord(kv["JobState"]), Reason: kv["Reason"], ExitCode: code, Signal: sig, HasExit: hasExit}
		}
	}
	return m
}

// live asks squeue; an unknown job (purged, or never existed) yields an empty map.
func (e *Executor) live(ctx context.Context, id string) (map[int]taskState, error) {
	out, err := e.run(ctx, "squeue", "-h", "-r", "-t", "all", "-j", id, "-o", "%i|%T|%r")
	var ce *cmdError
	if errors.As(err, &ce) && strings.Contains(ce.msg, "Invalid job id") {
		return map[int]taskState{}, nil
	}
	if err != nil {
		return nil, err
	}
	return parseSqueue(id, out), nil
}

// final reads final states with exit codes: sacct when accounting is on, otherwise
// scontrol (finished jobs stay there for MinJobAge).
func (e *Executor) final(ctx context.Context, id string) (map[int]taskState, string) {
	var notes []string
	out, err := e.run(ctx, "sacct", "-n", "-P", "-X", "-j", id, "-o", "JobID,State,ExitCode")
	if err == nil {
		if m := parseSacct(id, out); len(m) > 0 {
			return m, "sacct"
		}
		notes = append(notes, "sacct has no record")
	} else {
		notes = append(notes, err.Error())
	}
	out, err = e.run(ctx, "scontrol", "show", "job", "-o", id)
	if err == nil {
		if m := parseScontrol(id, out); len(m) > 0 {
			return m, "scontrol"
		}
	} else {
		notes = append(notes, err.Error())
	}
	return nil, strings.Join(notes, "; ")
}

// Wait follows h until all its tasks have ended.
func (e *Executor) Wait(ctx context.Context, h executor.Handle, on func(executor.Event)) (executor.Result, error) {
	if _, err := load(h); err != nil {
		return executor.Result{}, err
	}
	emit := func(ev executor.Event) {
		if on != nil {
			on(ev)
		}
	}
	interval := e.PollInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	followers := executor.Followers(h.WorkDir, h.Array)
	want := executor.Job{Array: h.Array}.Tasks()
	seen := map[int]string{}
	// A task that writes output is running, even when it started and
	// printed between two squeue polls: say so before its first line, so
	// that watchers never see output from a task still shown as pending.
	running := map[int]bool{}
	logs := func(ev executor.Event) {
		if ev.Kind == executor.EventLog && !running[ev.Task] {
			running[ev.Task] = true
			emit(executor.Event{Time: ev.Time, Kind: executor.EventState, Task: ev.Task, State: executor.StateRunning, Detail: "RUNNING (output seen)"})
		}
		emit(ev)
	}
	failures := 0
	for {
		_ = executor.PollAll(followers, logs)
		live, err := e.live(ctx, h.ID)
		if err != nil {
			if ctx.Err() != nil {
				return executor.Result{State: executor.StateRunning}, ctx.Err()
			}
			limit := e.MaxQueryFailures
			if limit <= 0 {
				limit = 20
			}
			if failures++; failures >= limit {
				return executor.Result{}, fmt.Errorf("%s: squeue failed %d times in a row, last: %w", h, failures, err)
			}
		} else {
			failures = 0
			for _, t := range want {
				ts, ok := live[t]
				if !ok {
					continue
				}
				d := ts.State
				if ts.Reason != "" && ts.Reason != "None" {
					d += " (" + ts.Reason + ")"
				}
				if seen[t] != d {
					seen[t] = d
					st := neutral(ts.State)
					if st == executor.StateRunning {
						if running[t] {
							continue // already announced by its output
						}
						running[t] = true
					}
					emit(executor.Event{Time: time.Now(), Kind: executor.EventState, Task: t, State: st, Detail: d})
				}
			}
			if done(live, want) {
				fin, source := e.final(ctx, h.ID)
				_ = executor.FlushAll(followers, logs)
				res := build(h, want, fin, live, source)
				emit(executor.Event{Time: time.Now(), Kind: executor.EventState, Task: -1, State: res.State, Detail: summary(res)})
				if res.Err != nil {
					return res, res.Err
				}
				return res, nil
			}
		}
		select {
		case <-ctx.Done():
			return executor.Result{State: executor.StateRunning, LogDir: executor.LogDir(h.WorkDir)}, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// done: every task is in a terminal state, or Slurm no longer knows the job.
func done(live map[int]taskState, want []int) bool {
	if len(live) == 0 {
		return true
	}
	for _, t := range want {
		if ts, ok := live[t]; ok && !terminal[ts.State] {
			return false
		}
	}
	// Tasks not listed at all have been purged: they ended long ago.
	return true
}

func neutral(state string) executor.State {
	switch {
	case state == "COMPLETED":
		return executor.StateSucceeded
	case terminal[state]:
		return executor.StateFailed
	case state == "PENDING" || state == "CONFIGURING" || state == "REQUEUED" || state == "REQUEUE_HOLD":
		return executor.StatePending
	}
	return executor.StateRunning
}

func reasonOf(state string) executor.Reason {
	switch state {
	case "TIMEOUT", "DEADLINE":
		return executor.ReasonTimeout
	case "OUT_OF_MEMORY":
		return executor.ReasonOutOfMemory
	case "NODE_FAIL", "BOOT_FAIL":
		return executor.ReasonNodeFail
	case "PREEMPTED":
		return executor.ReasonPreempted
	case "CANCELLED", "REVOKED":
		return executor.ReasonCancelled
	}
	return executor.ReasonFailed
}

// build turns Slurm's final word on every task into a Result.
func build(h executor.Handle, want []int, fin, live map[int]taskState, source string) executor.Result {
	res := executor.Result{State: executor.StateSucceeded, LogDir: executor.LogDir(h.WorkDir)}
	for _, t := range want {
		ts, ok := fin[t]
		if !ok {
			ts, ok = live[t] // final state without exit code is still better than nothing
		}
		var tr executor.TaskResult
		switch {
		case !ok:
			tr = executor.TaskResult{Task: t, State: executor.StateFailed, Reason: executor.ReasonLost,
				Detail: "Slurm no longer knows this job (finished longer than MinJobAge ago, without accounting): " + source}
		case ts.State == "COMPLETED" && ts.ExitCode == 0:
			tr = executor.TaskResult{Task: t, State: executor.StateSucceeded}
		default:
			tr = executor.TaskResult{Task: t, State: executor.StateFailed, ExitCode: ts.ExitCode, Reason: reasonOf(ts.State),
				Detail: "Slurm state " + ts.State}
			if ts.Reason != "" && ts.Reason != "None" {
				tr.Detail += ", reason " + ts.Reason
			}
			if !terminal[ts.State] {
				tr.Reason = executor.ReasonLost
				tr.Detail = "Slurm no longer lists the job but its last state was " + ts.State
			}
		}
		res.Tasks = append(res.Tasks, tr)
		if tr.State != executor.StateSucceeded && res.Err == nil {
			res.State, res.ExitCode = executor.StateFailed, tr.ExitCode
			res.Err = &executor.JobError{Handle: h, Task: t, Reason: tr.Reason, ExitCode: tr.ExitCode, Signal: ts.Signal, Detail: tr.Detail}
		}
	}
	return res
}

func summary(r executor.Result) string {
	if r.Err != nil {
		return string(r.Err.Reason)
	}
	return "COMPLETED"
}

// Node returns the node that runs h's batch script (squeue's BatchHost), or "" while the
// job is pending. Model servers use it to reach a job's port: Slurm says where the job
// runs, so nothing about the node has to pass through shared files.
func (e *Executor) Node(ctx context.Context, h executor.Handle) (string, error) {
	in, err := load(h)
	if err != nil {
		return "", err
	}
	out, err := e.run(ctx, "squeue", "-h", "-j", in.JobID, "-o", "%T|%B|%N")
	if err != nil {
		return "", err
	}
	return parseNode(out), nil
}

// parseNode reads squeue's "STATE|BATCHHOST|NODELIST" line: the batch host of a running
// job, else its node list when it names one node, else "".
func parseNode(out string) string {
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 3 || f[0] != "RUNNING" {
			continue
		}
		for _, n := range f[1:] {
			if n != "" && n != "n/a" && n != "(null)" && !strings.ContainsAny(n, "[,") {
				return n
			}
		}
	}
	return ""
}
