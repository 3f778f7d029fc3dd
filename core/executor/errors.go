package executor

import (
	"errors"
	"fmt"
)

// Reason is why a job did not succeed, in backend-neutral terms.
type Reason string

const (
	ReasonFailed      Reason = "FAILED"        // exited non-zero or was killed by a signal
	ReasonTimeout     Reason = "TIMEOUT"       // hit Resources.TimeLimit
	ReasonOutOfMemory Reason = "OUT_OF_MEMORY" // exceeded its memory limit
	ReasonNodeFail    Reason = "NODE_FAIL"     // the machine running it failed
	ReasonPreempted   Reason = "PREEMPTED"     // evicted for a higher-priority job
	ReasonCancelled   Reason = "CANCELLED"     // cancelled by Cancel, a user or an admin
	ReasonLost        Reason = "LOST"          // its fate is unknown (process gone without a status, record purged)
)

// JobError is the error Wait returns for a job that ended without success.
type JobError struct {
	Handle   Handle
	Task     int // failing array task, -1 for a plain job
	Reason   Reason
	ExitCode int    // exit status, when known
	Signal   int    // terminating signal, when known (0 otherwise)
	Detail   string // backend's own words (e.g. Slurm state and reason)
}

// Retryable reports whether running the same job again, unchanged, may succeed: true for
// failures of the infrastructure (node failure, preemption, a lost job), false for failures
// of the job itself (timeout, out of memory, non-zero exit, cancellation) which need a change
// first — Hint says which.
func (e *JobError) Retryable() bool {
	switch e.Reason {
	case ReasonNodeFail, ReasonPreempted, ReasonLost:
		return true
	}
	return false
}

// Hint says what to do about the failure.
func (e *JobError) Hint() string {
	switch e.Reason {
	case ReasonTimeout:
		return "raise Resources.TimeLimit, or make the job checkpoint and resume"
	case ReasonOutOfMemory:
		return "raise Resources.MemoryMB, or lower the batch size / sequence length"
	case ReasonNodeFail:
		return "the node failed, not the job: resubmit with Attempt+1"
	case ReasonPreempted:
		return "the job was preempted by higher-priority work: resubmit with Attempt+1 (or use a non-preemptible partition/QoS)"
	case ReasonCancelled:
		return "the job was cancelled: resubmit with Attempt+1 if that was not intended"
	case ReasonLost:
		return "its final status is unknown (process vanished or record purged): resubmit with Attempt+1"
	}
	return "read the job's logs in " + e.Handle.WorkDir + "/logs"
}

func (e *JobError) Error() string {
	where := e.Handle.String()
	if e.Task >= 0 {
		where += fmt.Sprintf(" task %d", e.Task)
	}
	what := string(e.Reason)
	switch {
	case e.Reason == ReasonFailed && e.Signal != 0:
		what += fmt.Sprintf(" (killed by signal %d)", e.Signal)
	case e.Reason == ReasonFailed:
		what += fmt.Sprintf(" (exit code %d)", e.ExitCode)
	}
	if e.Detail != "" {
		what += ": " + e.Detail
	}
	return fmt.Sprintf("%s: %s; %s", where, what, e.Hint())
}

// IsRetryable reports whether err is (or wraps) a retryable *JobError.
func IsRetryable(err error) bool {
	var je *JobError
	return errors.As(err, &je) && je.Retryable()
}
