package command

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/polyglot-teachers/polyglot/core/plan"
)

// progress draws one status line per stage on a terminal and logs a line
// every few seconds otherwise (progress bars only on a terminal).
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	log      zerolog.Logger
	stage    plan.Stage
	total    int
	done     int
	cost     float64
	started  time.Time
	lastDraw time.Time
}

func newProgress(env *Env) *progress {
	return &progress{w: env.Stderr, tty: isTerminal(env.Stderr), log: env.Log}
}

func (p *progress) StageStart(stage plan.Stage, units, items int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stage, p.total, p.done, p.cost, p.started = stage, items, 0, 0, time.Now()
	p.log.Info().Str("stage", string(stage)).Int("units", units).Int("items", items).Msg("stage started")
}

func (p *progress) Advance(stage plan.Stage, items int, cost float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += items
	p.cost += cost
	now := time.Now()
	every := 5 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if now.Sub(p.lastDraw) < every {
		return
	}
	p.lastDraw = now
	p.draw(now)
}

func (p *progress) draw(now time.Time) {
	el := now.Sub(p.started).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.done) / el
	}
	eta := "?"
	if rate > 0 && p.total > p.done {
		eta = (time.Duration(float64(p.total-p.done)/rate) * time.Second).Round(time.Second).String()
	}
	line := fmt.Sprintf("%-9s %d/%d  %.0f/s  ETA %s  $%.4f", p.stage, p.done, p.total, rate, eta, p.cost)
	if p.tty {
		width := 24
		filled := 0
		if p.total > 0 {
			filled = min(width, p.done*width/p.total)
		}
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = '.'
			if i < filled {
				bar[i] = '#'
			}
		}
		fmt.Fprintf(p.w, "\r\x1b[K[%s] %s", bar, line)
		return
	}
	p.log.Info().Str("stage", string(p.stage)).Int("done", p.done).Int("total", p.total).Float64("rate", rate).Str("eta", eta).Float64("cost_usd", p.cost).Msg("progress")
}

func (p *progress) StageDone(stage plan.Stage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.draw(time.Now())
		fmt.Fprintln(p.w)
	}
}
