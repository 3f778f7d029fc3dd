package apictl

import (
	"context"
	"time"
)

// Clock is the time source of a Controller. Tests inject a fake one so that
// minute-long rate windows run in microseconds.
type Clock interface {
	Now() time.Time
	// After sends the time once d has elapsed on this clock.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// sleep waits d on clk unless ctx ends first.
func sleep(ctx context.Context, clk Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-clk.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
