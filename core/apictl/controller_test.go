package apictl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
)

func ok() *sdk.Result { return &sdk.Result{Text: "fine", FinishReason: "stop"} }

func failed(code sdk.ErrorCode, retryAfter time.Duration) *sdk.Result {
	return &sdk.Result{Err: &sdk.CallError{Code: code, Message: code.String(), RetryAfter: retryAfter}}
}

// grantTimes runs n sequential calls through c (each done at once with
// usage tokens) and returns the fake times at which they were admitted.
func grantTimes(t *testing.T, c *Controller, clk *fakeClock, n, est int, usage int64) []time.Time {
	t.Helper()
	times := make([]time.Time, 0, n)
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			var p *Permit
			p, err = c.Acquire(context.Background(), est, 0)
			if err != nil {
				return
			}
			times = append(times, clk.Now())
			res := ok()
			res.Usage.OutputTokens = usage
			p.Done(res, 0)
		}
	}()
	clk.runUntil(t, done)
	if err != nil {
		t.Fatal(err)
	}
	return times
}

func TestRequestsPerMinuteHonouredOverEveryWindow(t *testing.T) {
	for _, tc := range []struct{ rpm, n int }{{1, 3}, {60, 150}, {600, 700}} {
		t.Run(fmt.Sprint(tc.rpm), func(t *testing.T) {
			clk := newFakeClock()
			c := New("t", Limits{Concurrency: 8, RequestsPerMinute: tc.rpm, Clock: clk})
			times := grantTimes(t, c, clk, tc.n, 0, 0)
			for i := range times {
				in := 0
				for j := i; j < len(times) && times[j].Sub(times[i]) < time.Minute; j++ {
					in++
				}
				if in > tc.rpm {
					t.Fatalf("%d requests in the minute starting at request %d, limit %d", in, i, tc.rpm)
				}
			}
			// The limit must not be wasted either: the average rate is the limit.
			want := time.Duration(tc.n-1) * time.Minute / time.Duration(tc.rpm)
			if got := times[len(times)-1].Sub(times[0]); got < want || got > want+time.Second {
				t.Errorf("%d requests took %v, want %v", tc.n, got, want)
			}
		})
	}
}

func TestTokensPerMinuteHonouredOverEveryWindow(t *testing.T) {
	for _, tc := range []struct{ tpm, est, n int }{{6000, 300, 100}, {60000, 2500, 60}, {1000, 5000, 4}} {
		t.Run(fmt.Sprint(tc.tpm, "/", tc.est), func(t *testing.T) {
			clk := newFakeClock()
			c := New("t", Limits{Concurrency: 8, TokensPerMinute: tc.tpm, Clock: clk})
			burst := max(1, tc.tpm/10)
			per := min(tc.est, burst) // requests larger than the burst wait for a full bucket
			times := grantTimes(t, c, clk, tc.n, tc.est, 0)
			for i := range times {
				sum := 0
				for j := i; j < len(times) && times[j].Sub(times[i]) < time.Minute; j++ {
					sum += per
				}
				if sum > tc.tpm+burst {
					t.Fatalf("%d tokens in the minute starting at request %d, limit %d (+ burst %d)", sum, i, tc.tpm, burst)
				}
			}
			total := per * tc.n
			want := time.Duration(float64(total-burst) / float64(tc.tpm) * float64(time.Minute))
			if got := times[len(times)-1].Sub(times[0]); got < want-time.Millisecond || got > want+time.Second {
				t.Errorf("%d tokens took %v, want about %v", total, got, want)
			}
		})
	}
}

func TestTokensBeyondTheEstimateDelayLaterCalls(t *testing.T) {
	clk := newFakeClock()
	// 100 tokens per second, burst 600.
	c := New("t", Limits{Concurrency: 2, TokensPerMinute: 6000, Clock: clk})
	// The first call estimates 100 tokens and uses 1100: the bucket goes
	// 600 → 500 → -100, so the next call of 100 waits 2 s.
	times := grantTimes(t, c, clk, 2, 100, 1100)
	if got := times[1].Sub(times[0]); got != 2*time.Second {
		t.Errorf("second call admitted after %v, want 2s", got)
	}
	// Calls that use what they estimated are not delayed.
	clk2 := newFakeClock()
	c2 := New("t", Limits{Concurrency: 2, TokensPerMinute: 6000, Clock: clk2})
	times = grantTimes(t, c2, clk2, 2, 100, 100)
	if got := times[1].Sub(times[0]); got != 0 {
		t.Errorf("second call admitted after %v, want 0", got)
	}
}

func TestRetryDecision(t *testing.T) {
	for _, tc := range []struct {
		name       string
		res        *sdk.Result
		attempt    int
		maxRetries int
		wantRetry  bool
		minWait    time.Duration
		maxWait    time.Duration
	}{
		{"success", ok(), 0, 5, false, 0, 0},
		{"429 honours Retry-After", failed(sdk.ErrRateLimited, 30*time.Second), 0, 5, true, 30 * time.Second, 30 * time.Second},
		{"429 without Retry-After backs off", failed(sdk.ErrRateLimited, 0), 0, 5, true, 0, 2 * time.Second},
		{"short Retry-After does not shorten backoff", failed(sdk.ErrServer, time.Millisecond), 3, 5, true, time.Millisecond, 16 * time.Second},
		{"server error", failed(sdk.ErrServer, 0), 0, 5, true, 0, 2 * time.Second},
		{"timeout", failed(sdk.ErrTimeout, 0), 1, 5, true, 0, 4 * time.Second},
		{"malformed response", failed(sdk.ErrMalformedResponse, 0), 0, 1, true, 0, 2 * time.Second},
		{"retries exhausted", failed(sdk.ErrServer, 0), 5, 5, false, 0, 0},
		{"no retries configured", failed(sdk.ErrServer, 0), 0, 0, false, 0, 0},
		{"invalid request", failed(sdk.ErrInvalidRequest, 0), 0, 5, false, 0, 0},
		{"auth", failed(sdk.ErrAuth, 0), 0, 5, false, 0, 0},
		{"content filtered", failed(sdk.ErrContentFiltered, 0), 0, 5, false, 0, 0},
		{"abandoned", nil, 0, 5, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			c := New("t", Limits{Concurrency: 1, MaxRetries: tc.maxRetries, BackoffInitial: time.Second, BreakerThreshold: 100, Clock: clk})
			p, err := c.Acquire(context.Background(), 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			for p.Attempt() < tc.attempt {
				p.Done(failed(sdk.ErrServer, 0), 0)
				if p, err = p.Next(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			retry, wait := p.Done(tc.res, 0)
			if retry != tc.wantRetry || wait < tc.minWait || wait > tc.maxWait {
				t.Errorf("Done = (%v, %v), want (%v, [%v, %v])", retry, wait, tc.wantRetry, tc.minWait, tc.maxWait)
			}
			if again, _ := p.Done(tc.res, 0); again {
				t.Error("a second Done retried again")
			}
			if s := c.Stats(); s.InFlight != 0 {
				t.Errorf("in flight after Done: %d", s.InFlight)
			}
		})
	}
}

func TestBackoffGrowsWithFullJitter(t *testing.T) {
	const chains, retries = 400, 8
	initial, maxInterval := 100*time.Millisecond, 5*time.Second
	c := New("t", Limits{Concurrency: 1, MaxRetries: retries, BackoffInitial: initial, BackoffMax: maxInterval, BreakerThreshold: 1 << 20, Clock: newFakeClock()})
	sums := make([]time.Duration, retries)
	distinct := make([]map[time.Duration]bool, retries)
	for a := range distinct {
		distinct[a] = map[time.Duration]bool{}
	}
	for range chains {
		p, err := c.Acquire(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for a := 0; a < retries; a++ {
			retry, wait := p.Done(failed(sdk.ErrServer, 0), 0)
			if !retry {
				t.Fatalf("attempt %d: no retry", a)
			}
			// Full jitter: uniform in [0, 2 × min(initial·2^a, max)].
			bound := 2 * min(initial<<a, maxInterval)
			if wait < 0 || wait > bound+time.Nanosecond {
				t.Fatalf("attempt %d: wait %v outside [0, %v]", a, wait, bound)
			}
			sums[a] += wait
			distinct[a][wait] = true
			if p, err = p.Next(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		p.Done(ok(), 0)
	}
	for a := 0; a < retries; a++ {
		mean := sums[a] / chains
		want := min(initial<<a, maxInterval)
		// The mean of U[0, 2w] is w; 400 draws put it within ±15 %.
		if float64(mean) < 0.85*float64(want) || float64(mean) > 1.15*float64(want) {
			t.Errorf("attempt %d: mean wait %v, want about %v", a, mean, want)
		}
		if len(distinct[a]) < chains/2 {
			t.Errorf("attempt %d: only %d distinct waits in %d draws: no jitter", a, len(distinct[a]), chains)
		}
	}
}

func TestAdaptiveLimitHalvesOn429AndRecoversGradually(t *testing.T) {
	clk := newFakeClock()
	c := New("t", Limits{Concurrency: 16, Adaptive: true, Clock: clk})
	var permits []*Permit
	for range 16 {
		p, err := c.Acquire(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		permits = append(permits, p)
	}
	permits[0].Done(failed(sdk.ErrRateLimited, 0), 0)
	if got := c.Stats().Limit; got != 8 {
		t.Fatalf("limit after a 429 = %d, want 8", got)
	}
	// The other 15 were admitted before the decrease: the same congestion
	// event, so their 429s do not halve again.
	permits[1].Done(failed(sdk.ErrRateLimited, 0), 0)
	permits[2].Done(failed(sdk.ErrRateLimited, 0), 0)
	if got := c.Stats().Limit; got != 8 {
		t.Fatalf("limit after 429s of the same event = %d, want 8", got)
	}
	for _, p := range permits[3:] {
		p.Done(ok(), 0)
	}
	// A 429 from a call admitted after the decrease halves again.
	p, _ := c.Acquire(context.Background(), 0, 0)
	p.Done(failed(sdk.ErrRateLimited, 0), 0)
	if got := c.Stats().Limit; got != 4 {
		t.Fatalf("limit after a new 429 = %d, want 4", got)
	}
	if s := c.Stats(); s.RateLimited != 4 {
		t.Errorf("RateLimited = %d, want 4", s.RateLimited)
	}
	// Recovery: +1 after a window of successes as long as the limit.
	var history []int
	for range 4 + 5 + 6 {
		p, err := c.Acquire(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		p.Done(ok(), 0)
		history = append(history, c.Stats().Limit)
	}
	want := []int{4, 4, 4, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 7}
	if fmt.Sprint(history) != fmt.Sprint(want) {
		t.Errorf("limit during recovery = %v, want %v", history, want)
	}
	// And never above the configured concurrency.
	for range 200 {
		p, _ := c.Acquire(context.Background(), 0, 0)
		p.Done(ok(), 0)
	}
	if got := c.Stats().Limit; got != 16 {
		t.Errorf("limit after many successes = %d, want the ceiling 16", got)
	}
	// The floor is 1.
	for range 10 {
		p, _ := c.Acquire(context.Background(), 0, 0)
		p.Done(failed(sdk.ErrRateLimited, 0), 0)
	}
	if got := c.Stats().Limit; got != 1 {
		t.Errorf("limit after many 429s = %d, want 1", got)
	}
}

func TestAdaptiveLimitHalvesWhenLatencyRises(t *testing.T) {
	c := New("t", Limits{Concurrency: 8, Adaptive: true, Clock: newFakeClock()})
	run := func(lat time.Duration) {
		p, err := c.Acquire(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		res := ok()
		res.Latency = lat
		p.Done(res, 0)
	}
	for range 20 {
		run(100 * time.Millisecond)
	}
	if got := c.Stats().Limit; got != 8 {
		t.Fatalf("limit at steady latency = %d, want 8", got)
	}
	run(250 * time.Millisecond) // 2.5× the baseline: noise
	if got := c.Stats().Limit; got != 8 {
		t.Fatalf("limit after a 2.5× latency = %d, want 8", got)
	}
	run(time.Second) // 10× the baseline: congestion
	if got := c.Stats().Limit; got != 4 {
		t.Fatalf("limit after a 10× latency = %d, want 4", got)
	}
}

func TestConcurrencyLimitIsNeverExceeded(t *testing.T) {
	c := New("t", Limits{Concurrency: 3})
	var cur, peak atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.Acquire(context.Background(), 0, 0)
			if err != nil {
				t.Error(err)
				return
			}
			n := cur.Add(1)
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			time.Sleep(200 * time.Microsecond)
			cur.Add(-1)
			p.Done(ok(), 0)
		}()
	}
	wg.Wait()
	if p := peak.Load(); p != 3 {
		t.Errorf("peak concurrency %d, want 3", p)
	}
	if s := c.Stats(); s.InFlight != 0 || s.Waiting != 0 || s.Successes != 40 {
		t.Errorf("stats after the run: %+v", s)
	}
}

func TestCancelledWaiterGivesItsPlaceBack(t *testing.T) {
	c := New("t", Limits{Concurrency: 1})
	p, _ := c.Acquire(context.Background(), 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := c.Acquire(ctx, 0, 0)
		errc <- err
	}()
	for c.Stats().Waiting == 0 {
		time.Sleep(50 * time.Microsecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Acquire returned %v", err)
	}
	p.Done(ok(), 0)
	p2, err := c.Acquire(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p2.Done(ok(), 0)
	if s := c.Stats(); s.InFlight != 0 || s.Waiting != 0 {
		t.Errorf("slots leaked: %+v", s)
	}
}

func TestPermitContextHasTheTimeout(t *testing.T) {
	c := New("t", Limits{Concurrency: 1, Timeout: 30 * time.Millisecond})
	p, _ := c.Acquire(context.Background(), 0, 0)
	dl, has := p.Context().Deadline()
	if !has || time.Until(dl) > 30*time.Millisecond {
		t.Fatalf("deadline %v (set %v), want within 30ms", dl, has)
	}
	<-p.Context().Done()
	p.Done(failed(sdk.ErrTimeout, 0), 0)
	p2, _ := c.Acquire(context.Background(), 0, 0)
	p2.Done(ok(), 0)
	if p2.Context().Err() == nil {
		t.Error("Done did not release the attempt context")
	}
}

func TestBreakerOpensHalfOpensAndCloses(t *testing.T) {
	clk := newFakeClock()
	c := New("t", Limits{Concurrency: 4, BreakerThreshold: 3, BreakerCooldown: 10 * time.Second, BreakerMaxOpen: time.Minute, Clock: clk})
	fail := func(code sdk.ErrorCode) {
		t.Helper()
		p, err := c.Acquire(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		p.Done(failed(code, 0), 0)
	}
	fail(sdk.ErrServer)
	fail(sdk.ErrServer)
	fail(sdk.ErrInvalidRequest) // an answer: the provider is up, the streak restarts
	fail(sdk.ErrServer)
	fail(sdk.ErrTimeout)
	if got := c.Stats().Breaker; got != BreakerClosed {
		t.Fatalf("breaker after an interrupted streak = %s", got)
	}
	fail(sdk.ErrServer)
	if got := c.Stats().Breaker; got != BreakerOpen {
		t.Fatalf("breaker after 3 consecutive failures = %s, want open", got)
	}

	// While open, callers wait; after the cooldown exactly one probes.
	type got struct {
		p   *Permit
		err error
		at  time.Time
	}
	results := make(chan got, 2)
	for range 2 {
		go func() {
			p, err := c.Acquire(context.Background(), 0, 0)
			results <- got{p, err, clk.Now()}
		}()
	}
	clk.waitTimers(t, 2)
	select {
	case r := <-results:
		t.Fatalf("Acquire passed an open breaker: %+v", r)
	default:
	}
	clk.Advance(10 * time.Second)
	probe := <-results
	if probe.err != nil || !probe.p.probe {
		t.Fatalf("after the cooldown: %+v, want a probe permit", probe)
	}
	if s := c.Stats().Breaker; s != BreakerHalfOpen {
		t.Fatalf("breaker during the probe = %s", s)
	}
	time.Sleep(2 * time.Millisecond)
	select {
	case r := <-results:
		t.Fatalf("a second caller passed a half-open breaker: %+v", r)
	default:
	}
	// The probe fails: open again for another cooldown.
	probe.p.Done(failed(sdk.ErrServer, 0), 0)
	if s := c.Stats().Breaker; s != BreakerOpen {
		t.Fatalf("breaker after a failed probe = %s", s)
	}
	clk.waitTimers(t, 1)
	clk.Advance(10 * time.Second)
	probe = <-results
	if probe.err != nil || !probe.p.probe {
		t.Fatalf("second probe: %+v", probe)
	}
	probe.p.Done(ok(), 0)
	if s := c.Stats().Breaker; s != BreakerClosed {
		t.Fatalf("breaker after a successful probe = %s", s)
	}
	p, err := c.Acquire(context.Background(), 0, 0)
	if err != nil || p.probe {
		t.Fatalf("closed breaker: %v %v", p, err)
	}
	p.Done(ok(), 0)
}

func TestBreakerGivesUpWhenItStaysOpen(t *testing.T) {
	clk := newFakeClock()
	c := New("acme", Limits{Concurrency: 2, BreakerThreshold: 1, BreakerCooldown: 10 * time.Second, BreakerMaxOpen: 25 * time.Second, Clock: clk})
	p, _ := c.Acquire(context.Background(), 0, 0)
	p.Done(failed(sdk.ErrServer, 0), 0)
	done := make(chan error)
	go func() {
		// Probe after 10 s and after 20 s; both fail. The next reopen would be
		// at 30 s, past the 25 s limit: the caller fails at 25 s.
		for {
			p, err := c.Acquire(context.Background(), 0, 0)
			if err != nil {
				done <- err
				return
			}
			p.Done(failed(sdk.ErrServer, 0), 0)
		}
	}()
	start := clk.Now()
	var err error
	stop := make(chan struct{})
	go func() { err = <-done; close(stop) }()
	clk.runUntil(t, stop)
	if !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	if el := clk.Now().Sub(start); el != 25*time.Second {
		t.Errorf("gave up after %v, want 25s", el)
	}
	if s := c.Stats(); s.Failures != 3 {
		t.Errorf("failures = %d, want 3 (the first call and two probes)", s.Failures)
	}
	// New callers fail fast.
	if _, err := c.Acquire(context.Background(), 0, 0); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("later Acquire: %v", err)
	}
}

func TestBudgetsAreNeverOverspentUnderConcurrency(t *testing.T) {
	shared := NewBudget("experiment", 10)
	own := NewBudget("teacher b", 3)
	ctls := []*Controller{
		New("a", Limits{Concurrency: 8}, shared),
		New("b", Limits{Concurrency: 8}, shared, own),
	}
	var exhausted, calls atomic.Int64
	var violation atomic.Value
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			c := ctls[w%2]
			for {
				est := 0.01 + 0.09*rng.Float64()
				p, err := c.Acquire(context.Background(), 0, est)
				if errors.Is(err, ErrBudgetExhausted) {
					exhausted.Add(1)
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				calls.Add(1)
				for _, b := range []*Budget{shared, own} {
					b.mu.Lock()
					if b.spent+b.reserved > b.capUSD+slack {
						violation.Store(fmt.Sprintf("%s: spent %v + reserved %v > %v", b.name, b.spent, b.reserved, b.capUSD))
					}
					b.mu.Unlock()
				}
				p.Done(ok(), est*rng.Float64()) // actual ≤ estimate
			}
		}()
	}
	wg.Wait()
	if v := violation.Load(); v != nil {
		t.Fatal(v)
	}
	if shared.Spent() > 10 || own.Spent() > 3 {
		t.Fatalf("overspent: shared %v of 10, own %v of 3", shared.Spent(), own.Spent())
	}
	if exhausted.Load() != 16 {
		t.Errorf("%d workers stopped on ErrBudgetExhausted, want 16", exhausted.Load())
	}
	if shared.Reserved() != 0 || own.Reserved() != 0 {
		t.Errorf("reservations left open: %v %v", shared.Reserved(), own.Reserved())
	}
	// The budgets were actually used, not refused early: the remainder is
	// less than one maximal call.
	if shared.Remaining() > 0.1 && own.Remaining() > 0.1 {
		t.Errorf("stopped early: shared %v left, own %v left", shared.Remaining(), own.Remaining())
	}
	spent := ctls[0].Stats().SpentUSD + ctls[1].Stats().SpentUSD
	if d := spent - shared.Spent(); d > 1e-9 || d < -1e-9 {
		t.Errorf("controllers spent %v, shared budget says %v", spent, shared.Spent())
	}
	t.Logf("%d calls, shared spent %.4f, own spent %.4f", calls.Load(), shared.Spent(), own.Spent())
}

func TestBudgetWaitsForInFlightReservations(t *testing.T) {
	b := NewBudget("exp", 1)
	c := New("t", Limits{Concurrency: 4}, b)
	p1, err := c.Acquire(context.Background(), 0, 0.6)
	if err != nil {
		t.Fatal(err)
	}
	// 0.6 reserved + 0.6 > 1, but 0 spent + 0.6 fits: wait for p1 to settle.
	got := make(chan error)
	go func() {
		p, err := c.Acquire(context.Background(), 0, 0.6)
		if err == nil {
			p.Done(ok(), 0.5)
		}
		got <- err
	}()
	time.Sleep(2 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("second reservation did not wait: %v", err)
	default:
	}
	p1.Done(ok(), 0.3) // 0.3 spent: 0.6 now fits
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// 0.8 spent: 0.3 can never fit, whatever settles.
	_, err = c.Acquire(context.Background(), 0, 0.3)
	if !errors.Is(err, ErrBudgetExhausted) {
		t.Fatalf("err = %v, want ErrBudgetExhausted", err)
	}
	if s := c.Stats(); s.InFlight != 0 {
		t.Errorf("a refused reservation kept its slot: %+v", s)
	}
	if err := b.Reserve(0.2); err != nil {
		t.Errorf("0.2 of the last 0.2 refused: %v", err)
	}
	if err := b.Reserve(-1); err == nil {
		t.Error("a negative estimate was accepted")
	}
}

func TestDoRetriesUntilSuccess(t *testing.T) {
	for _, tc := range []struct {
		name      string
		outcomes  []*sdk.Result
		wantCalls int
		wantErr   sdk.ErrorCode // -1: success
	}{
		{"succeeds after two server errors", []*sdk.Result{failed(sdk.ErrServer, 0), failed(sdk.ErrRateLimited, time.Millisecond), ok()}, 3, -1},
		{"stops at a non-retryable error", []*sdk.Result{failed(sdk.ErrServer, 0), failed(sdk.ErrAuth, 0), ok()}, 2, sdk.ErrAuth},
		{"gives up after MaxRetries", []*sdk.Result{failed(sdk.ErrServer, 0), failed(sdk.ErrServer, 0), failed(sdk.ErrServer, 0), failed(sdk.ErrServer, 0), ok()}, 4, sdk.ErrServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBudget("exp", 1)
			c := New("t", Limits{Concurrency: 2, MaxRetries: 3, BackoffInitial: time.Millisecond, BackoffMax: 2 * time.Millisecond}, b)
			calls := 0
			res, err := c.Do(context.Background(), 10, 0.01, func(ctx context.Context) (*sdk.Result, float64) {
				if ctx.Err() != nil {
					t.Error("attempt context already done")
				}
				r := tc.outcomes[calls]
				calls++
				return r, 0.001
			})
			if err != nil {
				t.Fatal(err)
			}
			if calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
			}
			if tc.wantErr < 0 && res.Err != nil || tc.wantErr >= 0 && (res.Err == nil || res.Err.Code != tc.wantErr) {
				t.Errorf("result error = %v, want %v", res.Err, tc.wantErr)
			}
			if s := c.Stats(); s.Retries != int64(tc.wantCalls-1) || s.InFlight != 0 {
				t.Errorf("stats %+v", s)
			}
			if got := b.Spent(); got < 0.001*float64(calls)-1e-12 || got > 0.001*float64(calls)+1e-12 || b.Reserved() != 0 {
				t.Errorf("budget spent %v reserved %v after %d calls", got, b.Reserved(), calls)
			}
		})
	}
}

func TestFromSpecAndEstimateCost(t *testing.T) {
	l := FromSpec(spec.Limits{Concurrency: 16, RequestsPerMinute: 500, TokensPerMinute: 200000, Timeout: time.Minute, MaxRetries: 5, Adaptive: true})
	if l.Concurrency != 16 || l.RequestsPerMinute != 500 || l.TokensPerMinute != 200000 || l.Timeout != time.Minute || l.MaxRetries != 5 || !l.Adaptive {
		t.Errorf("FromSpec = %+v", l)
	}
	got := EstimateCost(spec.Price{InputPerMTok: 2.5, OutputPerMTok: 10}, 1000, 2048)
	if want := 0.0025 + 0.02048; got < want-1e-12 || got > want+1e-12 {
		t.Errorf("EstimateCost = %v, want %v", got, want)
	}
}

func TestForTeacherChargesBothBudgets(t *testing.T) {
	five := 0.05
	exp := NewBudget("experiment", 1)
	c := ForTeacher(&spec.Teacher{Name: "gpt", Limits: spec.Limits{Concurrency: 2, BudgetUSD: &five}}, exp)
	other := ForTeacher(&spec.Teacher{Name: "aya", Limits: spec.Limits{Concurrency: 2}}, nil)
	for range 5 {
		p, err := c.Acquire(context.Background(), 0, 0.01)
		if err != nil {
			t.Fatal(err)
		}
		p.Done(ok(), 0.01)
	}
	_, err := c.Acquire(context.Background(), 0, 0.01)
	if !errors.Is(err, ErrBudgetExhausted) || !strings.Contains(err.Error(), `budget "teacher.gpt"`) {
		t.Fatalf("err = %v, want the teacher's budget exhausted", err)
	}
	if got := exp.Spent(); got < 0.05-1e-9 || got > 0.05+1e-9 {
		t.Errorf("experiment budget spent %v, want 0.05", got)
	}
	// A teacher without caps is not limited by spend.
	p, err := other.Acquire(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	p.Done(ok(), 100)
}

func TestCarriedSpendCountsAgainstTheCap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		carried float64
		est     float64
		fits    bool
	}{
		{"nothing carried", 0, 0.9, true},
		{"room left", 0.5, 0.5, true},
		{"earlier runs used the room", 0.5, 0.6, false},
		{"cap already spent", 1.2, 0.01, false},
		{"NaN is ignored", math.NaN(), 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBudget("experiment", 1)
			b.Carry(tc.carried)
			err := b.Reserve(tc.est)
			if fits := err == nil; fits != tc.fits {
				t.Fatalf("Reserve(%v) after Carry(%v) = %v, want fits=%v", tc.est, tc.carried, err, tc.fits)
			}
			if !tc.fits && !errors.Is(err, ErrBudgetExhausted) {
				t.Fatalf("err = %v, want ErrBudgetExhausted", err)
			}
		})
	}
}
