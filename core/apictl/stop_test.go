package apictl

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// TestSetupFailuresStopTheTeacher: failures that no retry cures
// (unreachable, auth, not found) stop the teacher after StopAfter in a
// row, and every later Acquire fails at once with the cause; other
// outcomes in between reset the count.
func TestSetupFailuresStopTheTeacher(t *testing.T) {
	for _, tc := range []struct {
		name     string
		outcomes []*sdk.Result
		stopped  bool
		cause    string
	}{
		{"unreachable three times", []*sdk.Result{failed(sdk.ErrUnreachable, 0), failed(sdk.ErrUnreachable, 0), failed(sdk.ErrUnreachable, 0)}, true, "unreachable"},
		{"mixed set-up failures", []*sdk.Result{failed(sdk.ErrAuth, 0), failed(sdk.ErrNotFound, 0), failed(sdk.ErrAuth, 0)}, true, "auth"},
		{"not found three times", []*sdk.Result{failed(sdk.ErrNotFound, 0), failed(sdk.ErrNotFound, 0), failed(sdk.ErrNotFound, 0)}, true, "not_found"},
		{"a success in between", []*sdk.Result{failed(sdk.ErrAuth, 0), failed(sdk.ErrAuth, 0), ok(), failed(sdk.ErrAuth, 0), failed(sdk.ErrAuth, 0)}, false, ""},
		{"a server answer in between", []*sdk.Result{failed(sdk.ErrUnreachable, 0), failed(sdk.ErrUnreachable, 0), failed(sdk.ErrServer, 0), failed(sdk.ErrUnreachable, 0)}, false, ""},
		{"cancelled calls do not count either way", []*sdk.Result{failed(sdk.ErrAuth, 0), failed(sdk.ErrCancelled, 0), failed(sdk.ErrAuth, 0), nil, failed(sdk.ErrAuth, 0)}, true, "auth"},
		{"transient faults keep retrying", []*sdk.Result{failed(sdk.ErrServer, 0), failed(sdk.ErrTimeout, 0), failed(sdk.ErrRateLimited, time.Second), failed(sdk.ErrServer, 0), failed(sdk.ErrServer, 0)}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New("gpt", Limits{Concurrency: 1, MaxRetries: 5, BreakerThreshold: 100, Clock: newFakeClock()})
			for i, res := range tc.outcomes {
				p, err := c.Acquire(context.Background(), 0, 0)
				if err != nil {
					t.Fatalf("outcome %d: %v", i, err)
				}
				p.Done(res, 0)
			}
			_, err := c.Acquire(context.Background(), 0, 0)
			if !tc.stopped {
				if err != nil || c.Stopped() != nil {
					t.Fatalf("stopped: %v", err)
				}
				return
			}
			var se *StoppedError
			if !errors.Is(err, ErrStopped) || !errors.As(err, &se) {
				t.Fatalf("Acquire after the stop: %v, want ErrStopped", err)
			}
			msg := err.Error()
			for _, want := range []string{`teacher "gpt"`, tc.cause, "Fix the cause and run again"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%q does not say %q", msg, want)
				}
			}
			if c.Stats().Stopped == nil || c.Stats().LastError == nil {
				t.Errorf("stats do not show the stop: %+v", c.Stats())
			}
		})
	}
}

// TestStopWakesWaiters: callers queued for a slot when the teacher stops
// fail at once instead of being sent.
func TestStopWakesWaiters(t *testing.T) {
	c := New("gpt", Limits{Concurrency: 1, StopAfter: 1, Clock: newFakeClock()})
	p, err := c.Acquire(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			q, err := c.Acquire(context.Background(), 0, 0)
			if err == nil {
				q.Done(ok(), 0)
			}
			errs <- err
		}()
	}
	for c.Stats().Waiting < 3 {
		time.Sleep(time.Millisecond)
	}
	if retry, _ := p.Done(failed(sdk.ErrUnreachable, 0), 0); retry {
		t.Error("the call that stopped the teacher is retried")
	}
	for range 3 {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrStopped) {
				t.Errorf("waiter: %v, want ErrStopped", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter is still queued after the stop")
		}
	}
	if s := c.Stats(); s.InFlight != 0 || s.Waiting != 0 {
		t.Errorf("after the stop: %d in flight, %d waiting", s.InFlight, s.Waiting)
	}
}

// TestRetryAfterIsCapped: a provider may ask for a wait up to
// MaxRetryWait; a longer one is not waited for: the teacher stops with an
// error that says how long was asked and what the cap is.
func TestRetryAfterIsCapped(t *testing.T) {
	for _, tc := range []struct {
		name      string
		asked     time.Duration
		cap       time.Duration
		wantRetry bool
	}{
		{"within the default cap", 2 * time.Minute, 0, true},
		{"at the cap", 5 * time.Minute, 0, true},
		{"a day, default cap", 24 * time.Hour, 0, false},
		{"an hour, cap raised to two", time.Hour, 2 * time.Hour, true},
		{"a minute, cap lowered to 30s", time.Minute, 30 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New("gpt", Limits{Concurrency: 1, MaxRetries: 5, MaxRetryWait: tc.cap, Clock: newFakeClock()})
			p, err := c.Acquire(context.Background(), 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			retry, wait := p.Done(failed(sdk.ErrRateLimited, tc.asked), 0)
			if retry != tc.wantRetry {
				t.Fatalf("retry = %v (wait %s), want %v", retry, wait, tc.wantRetry)
			}
			_, err = c.Acquire(context.Background(), 0, 0)
			if tc.wantRetry {
				if wait != tc.asked || err != nil {
					t.Errorf("wait %s (want %s), next Acquire: %v", wait, tc.asked, err)
				}
				return
			}
			if !errors.Is(err, ErrStopped) {
				t.Fatalf("Acquire after a too long Retry-After: %v, want ErrStopped", err)
			}
			for _, want := range []string{`teacher "gpt"`, "asks to wait " + tc.asked.String(), "max_retry_wait", "kept for the next run"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not say %q", err, want)
				}
			}
		})
	}
}
