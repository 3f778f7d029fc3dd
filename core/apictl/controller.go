package apictl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/time/rate"

	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// ErrCircuitOpen means the teacher's circuit breaker has stayed open longer
// than Limits.BreakerMaxOpen: the provider keeps failing, so calls fail fast
// instead of queueing forever.
var ErrCircuitOpen = errors.New("circuit open")

// ErrStopped means the teacher was stopped: its calls kept failing in a way
// no retry cures (no server at the URL, a rejected key, an unknown model),
// or the provider asked for a longer wait than Limits.MaxRetryWait. Every
// later Acquire fails with a *StoppedError at once.
var ErrStopped = errors.New("teacher stopped")

// StoppedError says why a teacher was stopped. Cause is the provider's
// error that stopped it (its message names the endpoint for set-up errors).
type StoppedError struct {
	Teacher string
	Cause   *sdk.CallError
	// Failures is the run of set-up failures in a row that stopped it; 0
	// when the stop was a wait longer than Wait allows.
	Failures int
	Wait     time.Duration // the wait asked for, when that stopped it
	MaxWait  time.Duration
}

func (e *StoppedError) Error() string {
	if e.Failures == 0 {
		return fmt.Sprintf("teacher %q stopped: the provider asks to wait %s before the next call, longer than the %s allowed (limits.max_retry_wait); last error: %s. Its requests are kept for the next run: run again later, or raise max_retry_wait",
			e.Teacher, e.Wait.Round(time.Second), e.MaxWait, e.Cause)
	}
	return fmt.Sprintf("teacher %q stopped after %d failures in a row: %s. Fix the cause and run again", e.Teacher, e.Failures, e.Cause)
}

func (e *StoppedError) Is(target error) bool { return target == ErrStopped }

// Defaults for zero-valued Limits fields.
const (
	DefaultConcurrency      = 4
	DefaultTimeout          = 120 * time.Second
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
	DefaultBreakerMaxOpen   = 10 * time.Minute
	DefaultBackoffInitial   = time.Second
	DefaultBackoffMax       = 60 * time.Second
	DefaultLatencyFactor    = 3.0
	DefaultStopAfter        = 3
	DefaultMaxRetryWait     = 5 * time.Minute
)

// Limits configures a Controller. Zero values of Concurrency, Timeout and
// the tuning fields take the defaults above (zero would be meaningless
// there); RequestsPerMinute and TokensPerMinute 0 mean unlimited and
// MaxRetries 0 means no retry.
type Limits struct {
	Concurrency       int // maximum calls in flight (the ceiling when Adaptive)
	RequestsPerMinute int
	TokensPerMinute   int
	Timeout           time.Duration // per attempt
	MaxRetries        int           // retries after the first attempt
	Adaptive          bool          // AIMD concurrency within [1, Concurrency]
	// MaxRetryWait caps the wait a provider may ask for (Retry-After,
	// reset headers): an answer asking for longer stops the teacher
	// (ErrStopped) instead of holding its calls for that long.
	MaxRetryWait time.Duration
	// StopAfter is how many set-up failures in a row (unreachable, auth,
	// not found: sdk.ErrorCode.TeacherLevel) stop the teacher.
	StopAfter int

	BreakerThreshold int           // consecutive server failures that open the breaker
	BreakerCooldown  time.Duration // open time before a half-open probe
	BreakerMaxOpen   time.Duration // open streak after which Acquire fails with ErrCircuitOpen
	BackoffInitial   time.Duration // mean wait before the first retry
	BackoffMax       time.Duration // cap of the mean wait
	// LatencyFactor: a success slower than this multiple of the moving
	// latency baseline counts as congestion for the adaptive limit.
	LatencyFactor float64

	Clock Clock // nil: RealClock
}

// FromSpec converts a teacher block's limits. Budgets are separate: build
// them with NewBudget from l.BudgetUSD and the experiment's budget_usd.
func FromSpec(l spec.Limits) Limits {
	return Limits{
		Concurrency:       l.Concurrency,
		RequestsPerMinute: l.RequestsPerMinute,
		TokensPerMinute:   l.TokensPerMinute,
		Timeout:           l.Timeout,
		MaxRetries:        l.MaxRetries,
		Adaptive:          l.Adaptive,
		MaxRetryWait:      l.MaxRetryWait,
	}
}

// ForTeacher builds the controller of a teacher block: its limits, its own
// budget when limits.budget_usd is set, and the experiment's shared budget
// (nil when experiment.budget_usd is not set).
func ForTeacher(t *spec.Teacher, experiment *Budget) *Controller {
	budgets := []*Budget{experiment}
	if t.Limits.BudgetUSD != nil {
		budgets = append(budgets, NewBudget("teacher."+t.Name, *t.Limits.BudgetUSD))
	}
	return New(t.Name, FromSpec(t.Limits), budgets...)
}

// EstimateCost is the USD cost of inTokens input and outTokens output tokens
// at price. Pass max_tokens as outTokens to get an upper bound to reserve.
func EstimateCost(p spec.Price, inTokens, outTokens int) float64 {
	return (float64(inTokens)*p.InputPerMTok + float64(outTokens)*p.OutputPerMTok) / 1e6
}

func (l Limits) withDefaults() Limits {
	if l.Concurrency <= 0 {
		l.Concurrency = DefaultConcurrency
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxRetries < 0 {
		l.MaxRetries = 0
	}
	if l.BreakerThreshold <= 0 {
		l.BreakerThreshold = DefaultBreakerThreshold
	}
	if l.BreakerCooldown <= 0 {
		l.BreakerCooldown = DefaultBreakerCooldown
	}
	if l.BreakerMaxOpen <= 0 {
		l.BreakerMaxOpen = DefaultBreakerMaxOpen
	}
	if l.BackoffInitial <= 0 {
		l.BackoffInitial = DefaultBackoffInitial
	}
	if l.BackoffMax <= 0 {
		l.BackoffMax = DefaultBackoffMax
	}
	if l.BackoffMax < l.BackoffInitial {
		l.BackoffMax = l.BackoffInitial
	}
	if l.StopAfter <= 0 {
		l.StopAfter = DefaultStopAfter
	}
	if l.MaxRetryWait <= 0 {
		l.MaxRetryWait = DefaultMaxRetryWait
	}
	if l.LatencyFactor <= 1 {
		l.LatencyFactor = DefaultLatencyFactor
	}
	if l.Clock == nil {
		l.Clock = RealClock
	}
	return l
}

// Breaker states as reported by Stats.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

// Stats is a snapshot of a controller.
type Stats struct {
	Name        string
	InFlight    int
	Waiting     int // callers queued for a concurrency slot
	Limit       int // current concurrency limit
	Successes   int64
	Failures    int64 // attempts that ended in an error
	RateLimited int64 // 429s seen
	Retries     int64 // retries granted by Done
	SpentUSD    float64
	Breaker     string
	// LastError is the last failed attempt's error (nil before any), and
	// LastErrorAt when it came.
	LastError   *sdk.CallError
	LastErrorAt time.Time
	// Stopped is why the teacher was stopped, nil while it runs.
	Stopped *StoppedError
}

// latency baseline: exponential moving average, and the number of samples
// before it is trusted.
const (
	latencyAlpha  = 0.1
	latencyWarmup = 10
)

// Controller applies one teacher's limits. It is safe for concurrent use.
type Controller struct {
	name    string
	lim     Limits
	clock   Clock
	rpm     *rate.Limiter
	tpm     *rate.Limiter
	budgets []*Budget

	mu         sync.Mutex
	inFlight   int
	limit      int
	waiters    []chan struct{} // FIFO of callers waiting for a slot
	successRun int
	epoch      uint64 // bumped at each decrease, so one congestion event halves once
	latBase    float64
	latN       int

	state     string
	failures  int
	openedAt  time.Time // start of the current open streak
	reopenAt  time.Time // end of the current cooldown
	probing   bool
	stateWake chan struct{} // closed and replaced at each breaker transition

	setupRun int           // set-up failures in a row (see Limits.StopAfter)
	stopped  *StoppedError // set once; never cleared

	st Stats
}

// New returns a controller for the teacher name. Every budget given is
// charged for each call.
func New(name string, l Limits, budgets ...*Budget) *Controller {
	l = l.withDefaults()
	c := &Controller{
		name: name, lim: l, clock: l.Clock, limit: l.Concurrency,
		state: BreakerClosed, stateWake: make(chan struct{}),
	}
	for _, b := range budgets {
		if b != nil {
			c.budgets = append(c.budgets, b)
		}
	}
	if l.RequestsPerMinute > 0 {
		// Burst 1 at RPM/60 per second: any 60 s window admits at most
		// RequestsPerMinute requests, which strict per-minute counters accept.
		c.rpm = rate.NewLimiter(rate.Limit(float64(l.RequestsPerMinute)/60), 1)
	}
	if l.TokensPerMinute > 0 {
		// Tokens need a burst large enough for one request; a tenth of the
		// minute keeps any 60 s window within 1.1 × TokensPerMinute while the
		// long-run rate is exactly TokensPerMinute.
		c.tpm = rate.NewLimiter(rate.Limit(float64(l.TokensPerMinute)/60), max(1, l.TokensPerMinute/10))
	}
	return c
}

// Name is the teacher's name.
func (c *Controller) Name() string { return c.name }

// Stats returns a snapshot.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.Name = c.name
	s.InFlight = c.inFlight
	s.Waiting = len(c.waiters)
	s.Limit = c.limit
	s.Breaker = c.state
	s.Stopped = c.stopped
	return s
}

// Stopped returns why the teacher was stopped, or nil.
func (c *Controller) Stopped() *StoppedError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

// stopLocked stops the teacher and wakes every caller waiting in Acquire,
// which then fails with e.
func (c *Controller) stopLocked(e *StoppedError) {
	if c.stopped != nil {
		return
	}
	c.stopped = e
	close(c.stateWake)
	c.stateWake = make(chan struct{})
	// Hand every waiter a slot: each finds the teacher stopped and gives
	// it back.
	for _, ch := range c.waiters {
		c.inFlight++
		close(ch)
	}
	c.waiters = nil
}

// Permit is the right to make one attempt of a call. Exactly one Done must
// follow every successful Acquire or Next.
type Permit struct {
	c         *Controller
	parent    context.Context
	ctx       context.Context    // made by Context, when first asked for
	cancel    context.CancelFunc // nil until then
	deadline  time.Time
	attempt   int
	bo        *backoff.ExponentialBackOff
	estTokens int
	tpmTokens int // tokens actually taken from the TPM bucket
	estCost   float64
	epoch     uint64
	probe     bool
	start     time.Time
	done      bool
}

// Acquire waits until a call with estTokens (input plus expected output
// tokens) and estCostUSD may be sent. Errors: ErrBudgetExhausted,
// ErrCircuitOpen (both wrapped, test with errors.Is) or the context's error.
func (c *Controller) Acquire(ctx context.Context, estTokens int, estCostUSD float64) (*Permit, error) {
	bo := &backoff.ExponentialBackOff{
		InitialInterval: c.lim.BackoffInitial,
		// Factor 1 draws each wait uniformly from [0, 2×interval]: full
		// jitter, so that callers rejected together do not return together.
		RandomizationFactor: 1,
		Multiplier:          2,
		MaxInterval:         c.lim.BackoffMax,
	}
	bo.Reset()
	return c.acquire(ctx, estTokens, estCostUSD, 0, bo)
}

// Next acquires the permit for the retry of p's call (same estimates, one
// more attempt). Call it after waiting what p.Done returned.
func (p *Permit) Next(ctx context.Context) (*Permit, error) {
	return p.c.acquire(ctx, p.estTokens, p.estCost, p.attempt+1, p.bo)
}

// Context is the attempt's context: the Acquire context with the per-attempt
// timeout. It is made on first use (a permit belongs to one goroutine):
// callers that only need the deadline use Deadline and skip a timer per call.
func (p *Permit) Context() context.Context {
	if p.ctx == nil {
		p.ctx, p.cancel = context.WithDeadline(p.parent, p.deadline)
		if p.done { // released already
			p.cancel()
		}
	}
	return p.ctx
}

// Deadline is when the attempt times out (Limits.Timeout after Acquire).
func (p *Permit) Deadline() time.Time { return p.deadline }

// Attempt is 0 for the first attempt, 1 for the first retry, and so on.
func (p *Permit) Attempt() int { return p.attempt }

func (c *Controller) acquire(ctx context.Context, estTokens int, estCost float64, attempt int, bo *backoff.ExponentialBackOff) (*Permit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	probe, err := c.waitBreaker(ctx)
	if err != nil {
		return nil, err
	}
	epoch, err := c.waitSlot(ctx)
	if err == nil {
		if st := c.Stopped(); st != nil {
			c.release()
			err = st
		}
	}
	if err != nil {
		c.dropProbe(probe)
		return nil, err
	}
	reserved, err := c.reserve(ctx, estCost)
	if err != nil {
		c.release()
		c.dropProbe(probe)
		return nil, err
	}
	tpmTokens, err := c.waitRate(ctx, estTokens)
	if err == nil {
		if st := c.Stopped(); st != nil {
			err = st
		}
	}
	if err != nil {
		for _, b := range reserved {
			b.Settle(estCost, 0)
		}
		c.release()
		c.dropProbe(probe)
		return nil, err
	}
	return &Permit{
		c: c, parent: ctx, deadline: time.Now().Add(c.lim.Timeout), attempt: attempt, bo: bo,
		estTokens: estTokens, tpmTokens: tpmTokens, estCost: estCost,
		epoch: epoch, probe: probe, start: c.clock.Now(),
	}, nil
}

// ---------------------------------------------------------------- breaker

func (c *Controller) setStateLocked(s string) {
	c.state = s
	close(c.stateWake)
	c.stateWake = make(chan struct{})
}

func (c *Controller) circuitOpenErr() error {
	return fmt.Errorf("%w: teacher %q has failed %d times in a row and its provider has not recovered for %s; check the provider's status and rerun",
		ErrCircuitOpen, c.name, c.lim.BreakerThreshold, c.lim.BreakerMaxOpen)
}

// waitBreaker returns when a call may pass the breaker; probe says the
// caller is the single half-open probe.
func (c *Controller) waitBreaker(ctx context.Context) (probe bool, err error) {
	for {
		c.mu.Lock()
		if c.stopped != nil {
			err := c.stopped
			c.mu.Unlock()
			return false, err
		}
		if c.state == BreakerClosed {
			c.mu.Unlock()
			return false, nil
		}
		now := c.clock.Now()
		giveUp := c.openedAt.Add(c.lim.BreakerMaxOpen)
		if !now.Before(giveUp) {
			c.mu.Unlock()
			return false, c.circuitOpenErr()
		}
		wake := c.stateWake
		until := giveUp
		switch {
		case c.state == BreakerOpen && !now.Before(c.reopenAt):
			c.setStateLocked(BreakerHalfOpen)
			c.probing = true
			c.mu.Unlock()
			return true, nil
		case c.state == BreakerHalfOpen && !c.probing:
			c.probing = true
			c.mu.Unlock()
			return true, nil
		case c.state == BreakerOpen && c.reopenAt.Before(giveUp):
			until = c.reopenAt
		}
		c.mu.Unlock()
		select {
		case <-c.clock.After(until.Sub(now)):
		case <-wake:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// dropProbe gives the probe role back when the probe never reached the
// provider, so another caller may probe.
func (c *Controller) dropProbe(probe bool) {
	if !probe {
		return
	}
	c.mu.Lock()
	c.probing = false
	close(c.stateWake)
	c.stateWake = make(chan struct{})
	c.mu.Unlock()
}

// ---------------------------------------------------------------- slots

func (c *Controller) waitSlot(ctx context.Context) (uint64, error) {
	c.mu.Lock()
	if c.inFlight < c.limit && len(c.waiters) == 0 {
		c.inFlight++
		e := c.epoch
		c.mu.Unlock()
		return e, nil
	}
	ch := make(chan struct{})
	c.waiters = append(c.waiters, ch)
	c.mu.Unlock()
	select {
	case <-ch:
		c.mu.Lock()
		e := c.epoch
		c.mu.Unlock()
		return e, nil
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, w := range c.waiters {
			if w == ch {
				c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
				return 0, ctx.Err()
			}
		}
		// The slot was handed over as the context ended: give it back.
		c.inFlight--
		c.grantLocked()
		return 0, ctx.Err()
	}
}

func (c *Controller) release() {
	c.mu.Lock()
	c.inFlight--
	c.grantLocked()
	c.mu.Unlock()
}

// grantLocked hands free slots to waiters in arrival order.
func (c *Controller) grantLocked() {
	for len(c.waiters) > 0 && c.inFlight < c.limit {
		ch := c.waiters[0]
		c.waiters = c.waiters[1:]
		c.inFlight++
		close(ch)
	}
}

// ---------------------------------------------------------------- budgets and rates

func (c *Controller) reserve(ctx context.Context, est float64) ([]*Budget, error) {
	var done []*Budget
	for _, b := range c.budgets {
		if err := b.reserveWait(ctx, est); err != nil {
			for _, d := range done {
				d.Settle(est, 0)
			}
			return nil, fmt.Errorf("teacher %q: %w", c.name, err)
		}
		done = append(done, b)
	}
	return done, nil
}

// waitRate takes one request and estTokens from the buckets and waits for
// them. It returns the tokens taken from the TPM bucket.
func (c *Controller) waitRate(ctx context.Context, estTokens int) (int, error) {
	now := c.clock.Now()
	var rs []*rate.Reservation
	var delay time.Duration
	take := func(l *rate.Limiter, n int) {
		r := l.ReserveN(now, n)
		rs = append(rs, r)
		delay = max(delay, r.DelayFrom(now))
	}
	if c.rpm != nil {
		take(c.rpm, 1)
	}
	tokens := 0
	if c.tpm != nil && estTokens > 0 {
		// A request larger than the burst would never fit; it waits for a
		// full bucket instead.
		tokens = min(estTokens, c.tpm.Burst())
		take(c.tpm, tokens)
	}
	if err := sleep(ctx, c.clock, delay); err != nil {
		t := c.clock.Now()
		for _, r := range rs {
			r.CancelAt(t)
		}
		return 0, err
	}
	return tokens, nil
}

// ---------------------------------------------------------------- outcome

// breakerFailure reports whether an error says the provider itself is
// failing (as opposed to rejecting this call or rate limiting it).
func breakerFailure(code sdk.ErrorCode) bool {
	switch code {
	case sdk.ErrServer, sdk.ErrTimeout, sdk.ErrUnknown:
		return true
	}
	return false
}

// Done records the attempt's outcome and says whether to retry and after
// how long. res nil means the attempt was abandoned before an answer (no
// verdict, no retry). Done settles the budgets with actualCostUSD, releases
// the slot and the timeout context; calling it again does nothing.
func (p *Permit) Done(res *sdk.Result, actualCostUSD float64) (retry bool, wait time.Duration) {
	c := p.c
	c.mu.Lock()
	if p.done {
		c.mu.Unlock()
		return false, 0
	}
	p.done = true
	c.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
	}
	for _, b := range c.budgets {
		b.Settle(p.estCost, actualCostUSD)
	}
	now := c.clock.Now()
	if res != nil && c.tpm != nil {
		// Charge tokens used beyond the estimate so that the bucket tracks
		// real usage; the debt delays later calls.
		if extra := int(res.Usage.InputTokens+res.Usage.OutputTokens) - p.tpmTokens; extra > 0 {
			c.tpm.ReserveN(now, min(extra, c.tpm.Burst()))
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight--
	c.st.SpentUSD += math.Max(0, actualCostUSD)

	var code sdk.ErrorCode
	switch {
	case res == nil:
		code = sdk.ErrCancelled
	case res.Err != nil:
		code = res.Err.Code
	}
	ok := res != nil && res.Err == nil

	// Breaker.
	switch {
	case ok:
		c.failures = 0
		c.closeLocked()
	case res == nil || code == sdk.ErrCancelled:
		if p.probe {
			c.probing = false
			close(c.stateWake)
			c.stateWake = make(chan struct{})
		}
	case breakerFailure(code):
		c.failures++
		if p.probe || (c.state == BreakerClosed && c.failures >= c.lim.BreakerThreshold) {
			if c.state == BreakerClosed {
				c.openedAt = now
			}
			c.reopenAt = now.Add(c.lim.BreakerCooldown)
			c.probing = false
			c.setStateLocked(BreakerOpen)
		}
	default:
		// Any other answer (429, a rejected request) proves the provider is up.
		c.failures = 0
		c.closeLocked()
	}

	// Adaptive concurrency and counters.
	if ok {
		c.st.Successes++
		lat := res.Latency
		if lat <= 0 {
			lat = now.Sub(p.start)
		}
		c.observeLatencyLocked(p, lat.Seconds())
	} else if res != nil {
		c.st.Failures++
	}
	if code == sdk.ErrRateLimited && res != nil {
		c.st.RateLimited++
		c.decreaseLocked(p)
	}
	if res != nil && res.Err != nil && code != sdk.ErrCancelled {
		c.st.LastError, c.st.LastErrorAt = res.Err, now
	}

	// Set-up failures in a row stop the teacher; any other answer shows
	// that calls can get through.
	switch {
	case res == nil || code == sdk.ErrCancelled:
	case code.TeacherLevel():
		c.setupRun++
		if c.setupRun >= c.lim.StopAfter {
			c.stopLocked(&StoppedError{Teacher: c.name, Cause: res.Err, Failures: c.setupRun})
		}
	default:
		c.setupRun = 0
	}
	// A provider asking for a longer wait than allowed: its calls would sit
	// in their slots for that long, so the teacher stops and says so.
	if res != nil && res.Err != nil && res.Err.RetryAfter > c.lim.MaxRetryWait {
		c.stopLocked(&StoppedError{Teacher: c.name, Cause: res.Err, Wait: res.Err.RetryAfter, MaxWait: c.lim.MaxRetryWait})
	}
	c.grantLocked()

	if res == nil || res.Err == nil || !code.Retryable() || p.attempt >= c.lim.MaxRetries || p.parent.Err() != nil || c.stopped != nil {
		return false, 0
	}
	wait = p.bo.NextBackOff()
	if ra := res.Err.RetryAfter; ra > wait {
		wait = ra
	}
	c.st.Retries++
	return true, wait
}

func (c *Controller) closeLocked() {
	if c.state != BreakerClosed {
		c.probing = false
		c.setStateLocked(BreakerClosed)
	}
}

func (c *Controller) observeLatencyLocked(p *Permit, lat float64) {
	slow := c.latN >= latencyWarmup && lat > c.lim.LatencyFactor*c.latBase
	if c.latN == 0 {
		c.latBase = lat
	} else {
		c.latBase += latencyAlpha * (lat - c.latBase)
	}
	c.latN++
	if slow {
		c.decreaseLocked(p)
		return
	}
	if !c.lim.Adaptive {
		return
	}
	// Additive increase: +1 after a window of successes as long as the limit.
	c.successRun++
	if c.successRun >= c.limit && c.limit < c.lim.Concurrency {
		c.limit++
		c.successRun = 0
	}
}

// decreaseLocked halves the limit once per congestion event: signals from
// calls admitted before the last decrease belong to the same event.
func (c *Controller) decreaseLocked(p *Permit) {
	c.successRun = 0
	if !c.lim.Adaptive || p.epoch != c.epoch {
		return
	}
	c.limit = max(1, c.limit/2)
	c.epoch++
}

// Do runs call through the controller until it succeeds, fails for good or
// runs out of retries, waiting between attempts. call gets the attempt's
// context and returns the result and its actual cost. Do returns the last
// result (whose Err may be set) and an error only when no attempt could be
// made (ErrBudgetExhausted, ErrCircuitOpen, context).
func (c *Controller) Do(ctx context.Context, estTokens int, estCostUSD float64, call func(ctx context.Context) (*sdk.Result, float64)) (*sdk.Result, error) {
	p, err := c.Acquire(ctx, estTokens, estCostUSD)
	var last *sdk.Result
	for {
		if err != nil {
			return last, err
		}
		res, cost := call(p.Context())
		if res == nil {
			res = &sdk.Result{Err: &sdk.CallError{Code: sdk.ErrUnknown, Message: "teacher returned no result"}}
		}
		last = res
		retry, wait := p.Done(res, cost)
		if !retry {
			return last, nil
		}
		if err := sleep(ctx, c.clock, wait); err != nil {
			return last, err
		}
		p, err = p.Next(ctx)
	}
}
