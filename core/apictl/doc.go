// Package apictl puts every control over a teacher's API traffic in one
// place, so that each teacher plugin only has to make one attempt per call
// and classify its failures (sdk.CallError).
//
// The engine sends every call through a per-teacher Controller:
//
//	p, err := ctl.Acquire(ctx, estTokens, estCostUSD) // waits, or ErrBudgetExhausted / ErrCircuitOpen
//	res := generate(p.Context(), call)                // one attempt, bounded by Limits.Timeout
//	retry, wait := p.Done(res, actualCostUSD)         // settle, learn, decide
//
// or simply ctl.Do(ctx, estTokens, estCostUSD, fn), which runs that loop.
//
// Acquire waits, in order, for the circuit breaker (open after
// BreakerThreshold consecutive server failures, half-open with a single
// probe after BreakerCooldown, fail fast with ErrCircuitOpen once it has been
// open for BreakerMaxOpen), a concurrency slot (a fixed limit, or an AIMD
// limit when Limits.Adaptive is set), the budgets (a reservation that can
// never fit fails with ErrBudgetExhausted; one that fits once in-flight
// reservations settle waits for them), and the RPM and TPM token buckets
// (golang.org/x/time/rate). Done settles the budgets, charges the TPM bucket
// for tokens used beyond the estimate, feeds the adaptive limit and the
// breaker, and decides on a retry with exponential backoff and full jitter
// (github.com/cenkalti/backoff/v5 with randomisation factor 1), never
// shorter than the error's RetryAfter.
//
// The limiter state machine (slots, breaker, AIMD) is written here because
// no maintained library combines a resizable FIFO semaphore, a breaker with
// a give-up deadline and latency-aware AIMD behind one injectable Clock;
// the token buckets and the backoff come from libraries.
package apictl
