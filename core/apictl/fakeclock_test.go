package apictl

import (
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose time only moves when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.timers = append(f.timers, fakeTimer{at: f.now.Add(d), ch: ch})
	return ch
}

// Advance moves time forward by d and fires the timers that are due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.fireLocked()
}

func (f *fakeClock) fireLocked() {
	kept := f.timers[:0]
	for _, t := range f.timers {
		if !t.at.After(f.now) {
			t.ch <- f.now
		} else {
			kept = append(kept, t)
		}
	}
	f.timers = kept
}

// next returns the earliest pending timer.
func (f *fakeClock) next() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.timers) == 0 {
		return time.Time{}, false
	}
	sort.Slice(f.timers, func(i, j int) bool { return f.timers[i].at.Before(f.timers[j].at) })
	return f.timers[0].at, true
}

// pending is the number of timers waiting.
func (f *fakeClock) pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// waitTimers blocks (in real time, briefly) until n timers are pending.
func (f *fakeClock) waitTimers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.pending() < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d pending timers (have %d)", n, f.pending())
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// runUntil jumps from timer to timer until done is closed: the goroutines
// under test see time pass exactly as fast as they wait for it.
func (f *fakeClock) runUntil(t *testing.T, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("fake clock: the goroutines under test did not finish")
		}
		if at, ok := f.next(); ok {
			f.mu.Lock()
			if at.After(f.now) {
				f.now = at
			}
			f.fireLocked()
			f.mu.Unlock()
			continue
		}
		time.Sleep(50 * time.Microsecond)
	}
}
