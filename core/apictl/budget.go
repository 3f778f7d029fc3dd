package apictl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
)

// ErrBudgetExhausted means a call's cost reservation does not fit in a
// budget even if every in-flight call settles at zero: the run must stop
// sending calls to this teacher (or at all, for an experiment budget).
var ErrBudgetExhausted = errors.New("budget exhausted")

// Budget is a USD cap shared by any number of controllers: one per teacher
// (limits.budget_usd) and/or one for the whole experiment
// (experiment.budget_usd). Calls reserve their estimated cost before they
// are sent and settle it with the actual cost when they end, so that
// concurrent calls cannot jointly overspend as long as estimates are upper
// bounds (input tokens plus max_tokens at the teacher's price).
type Budget struct {
	name   string
	capUSD float64

	mu       sync.Mutex
	spent    float64
	reserved float64
	changed  chan struct{} // closed and replaced whenever a settlement frees room
}

// NewBudget returns a budget named name (used in errors) capped at capUSD.
func NewBudget(name string, capUSD float64) *Budget {
	return &Budget{name: name, capUSD: capUSD, changed: make(chan struct{})}
}

// Carry counts usd already spent against this cap by earlier runs of the
// same experiment (read from the store), so a resumed run cannot spend the
// cap a second time.
func (b *Budget) Carry(usd float64) {
	if usd <= 0 || math.IsNaN(usd) {
		return
	}
	b.mu.Lock()
	b.spent += usd
	b.mu.Unlock()
}

// Name is the budget's name.
func (b *Budget) Name() string { return b.name }

// Cap is the budget's cap in USD.
func (b *Budget) Cap() float64 { return b.capUSD }

// Spent is the settled spend in USD.
func (b *Budget) Spent() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent
}

// Reserved is the sum of open reservations in USD.
func (b *Budget) Reserved() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reserved
}

// Remaining is the cap minus spend and open reservations (never negative).
func (b *Budget) Remaining() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return math.Max(0, b.capUSD-b.spent-b.reserved)
}

// slack absorbs float rounding so that reserving exactly the remainder fits.
const slack = 1e-9

// Reserve sets est USD aside, or returns an error wrapping
// ErrBudgetExhausted when it does not fit now. It never waits.
func (b *Budget) Reserve(est float64) error {
	if est < 0 || math.IsNaN(est) {
		return fmt.Errorf("budget %q: invalid cost estimate %v (want a non-negative number)", b.name, est)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spent+b.reserved+est > b.capUSD+slack {
		return b.exhausted(est)
	}
	b.reserved += est
	return nil
}

func (b *Budget) exhausted(est float64) error {
	return fmt.Errorf("%w: budget %q: spent $%.4f, reserved $%.4f of $%.4f; the next call needs $%.4f. Raise the cap or lower max_tokens",
		ErrBudgetExhausted, b.name, b.spent, b.reserved, b.capUSD, est)
}

// reserveWait reserves est, waiting for in-flight reservations to settle
// when they are what stands in the way. It fails at once when even the
// settled spend leaves no room.
func (b *Budget) reserveWait(ctx context.Context, est float64) error {
	if est < 0 || math.IsNaN(est) {
		return fmt.Errorf("budget %q: invalid cost estimate %v (want a non-negative number)", b.name, est)
	}
	for {
		b.mu.Lock()
		if b.spent+est > b.capUSD+slack {
			err := b.exhausted(est)
			b.mu.Unlock()
			return err
		}
		if b.spent+b.reserved+est <= b.capUSD+slack {
			b.reserved += est
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Settle closes a reservation of reserved USD and records actual USD as
// spent. actual above reserved is recorded as is (the provider charged it);
// later reservations then see the overspend.
func (b *Budget) Settle(reserved, actual float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reserved -= reserved
	if b.reserved < slack { // float residue of many add/subtract pairs
		b.reserved = 0
	}
	if actual > 0 {
		b.spent += actual
	}
	close(b.changed)
	b.changed = make(chan struct{})
}
