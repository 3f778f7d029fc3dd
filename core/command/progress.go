package command

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/polyglot-teachers/polyglot/core/plan"
)

// progress shows how each stage advances: on a terminal one bar per stage
// (github.com/vbauerster/mpb/v8), with log lines printed above the bars;
// elsewhere a log line every few seconds. Rates and ETAs come from a
// moving window, not from the average since the stage started.
type progress struct {
	out  io.Writer
	tty  bool
	log  zerolog.Logger
	sink *logSink // the logger's output, routed above the bars while they run
	now  func() time.Time
	// forceTTY draws bars with a terminal's escapes on an output that is
	// not one (tests).
	forceTTY bool

	mu     sync.Mutex
	mp     *mpb.Progress
	stages map[plan.Stage]*stageProgress
}

// logEvery is how often a stage's progress is logged when there are no bars.
const logEvery = 5 * time.Second

func newProgress(env *Env) *progress {
	return &progress{out: env.Stderr, tty: isTerminal(env.Stderr), log: env.Log, sink: env.logSink, now: time.Now, stages: map[plan.Stage]*stageProgress{}}
}

// stageProgress is one stage's counts. Its own lock is never held while
// calling into mpb, whose render goroutine reads it through the decorator.
type stageProgress struct {
	mu      sync.Mutex
	total   int
	done    int // including resumed
	resumed int // done by an earlier run
	cost    float64
	meter   rateMeter
	lastLog time.Time
	bar     *mpb.Bar
	began   time.Time
	ended   time.Time // set by StageDone: the bar's figures stop there
}

func (p *progress) StageStart(stage plan.Stage, units, items, done int) {
	now := p.now()
	sp := &stageProgress{total: items, done: done, resumed: done, lastLog: now, began: now}
	sp.meter.add(now, 0)
	p.mu.Lock()
	p.stages[stage] = sp
	p.mu.Unlock()
	p.log.Info().Str("stage", string(stage)).Int("units", units).Int("items", items).Int("done", done).Msg("stage started")
	if !p.tty {
		return
	}
	p.mu.Lock()
	if p.mp == nil {
		// The output is a terminal behind a writer (the redacting one):
		// the console writer gets its descriptor for the width, and
		// refreshes whatever the output's type. Without a renderer, lines
		// routed above the bars would be lost.
		cw := cupwriter.New(p.out, p.forceTTY)
		if f := termFile(p.out); f != nil {
			cw.SetTermFd(int(f.Fd()))
		}
		p.mp = mpb.New(mpb.WithConsoleWriter(sizedConsole{cw}), mpb.WithAutoRefresh(), mpb.WithRefreshRate(120*time.Millisecond))
		if p.sink != nil {
			p.sink.route(p.mp)
		}
	}
	mp := p.mp
	p.mu.Unlock()
	bar := mp.AddBar(int64(items),
		mpb.PrependDecorators(
			decor.Name(string(stage), decor.WC{W: 9, C: decor.DindentRight}),
			decor.CountersNoUnit("%d/%d", decor.WCSyncWidth),
		),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return sp.tail(p.now()) })),
	)
	bar.SetCurrent(int64(done))
	sp.mu.Lock()
	sp.bar = bar
	sp.mu.Unlock()
}

func (p *progress) Advance(stage plan.Stage, items int, cost float64) {
	p.mu.Lock()
	sp := p.stages[stage]
	p.mu.Unlock()
	if sp == nil {
		return
	}
	now := p.now()
	sp.mu.Lock()
	sp.done += items
	sp.cost += cost
	sp.meter.add(now, sp.done-sp.resumed)
	if sp.done >= sp.total && sp.ended.IsZero() {
		sp.ended = now // a complete bar is drawn one last time, now
	}
	bar := sp.bar
	logNow := !p.tty && now.Sub(sp.lastLog) >= logEvery
	if logNow {
		sp.lastLog = now
	}
	done, total, c := sp.done, sp.total, sp.cost
	rate, eta := sp.meter.rate(now), sp.meter.eta(now, total-done)
	sp.mu.Unlock()
	if bar != nil {
		bar.IncrBy(items)
	}
	if logNow {
		p.log.Info().Str("stage", string(stage)).Int("done", done).Int("total", total).Float64("rate", rate).Str("eta", eta).Float64("cost_usd", c).Msg("progress")
	}
}

// tail is what the bar shows after its counters: the current rate and
// the ETA while the stage runs, its mean rate and duration once it ended.
func (sp *stageProgress) tail(now time.Time) string {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.ended.IsZero() {
		took := sp.ended.Sub(sp.began)
		rate := 0.0
		if took > 0 {
			rate = float64(sp.done-sp.resumed) / took.Seconds()
		}
		return fmt.Sprintf("%7.1f/s  took %-6s $%.4f", rate, roundDuration(took), sp.cost)
	}
	return fmt.Sprintf("%7.1f/s  ETA  %-6s $%.4f", sp.meter.rate(now), sp.meter.eta(now, sp.total-sp.done), sp.cost)
}

// StageDone leaves the stage's bar drawn as it stands: complete, or (when
// units failed or were skipped) short of its total, which is the truth.
func (p *progress) StageDone(stage plan.Stage) {
	p.mu.Lock()
	sp := p.stages[stage]
	p.mu.Unlock()
	if sp == nil {
		return
	}
	sp.mu.Lock()
	bar := sp.bar
	if sp.ended.IsZero() {
		sp.ended = p.now()
	}
	sp.mu.Unlock()
	if bar != nil && !bar.Completed() {
		bar.Abort(false)
	}
}

// Close draws the bars a last time and gives the log its own output back.
// Calling it again does nothing.
func (p *progress) Close() {
	p.mu.Lock()
	mp := p.mp
	p.mp = nil
	p.mu.Unlock()
	if mp == nil {
		return
	}
	mp.Wait()
	if p.sink != nil {
		p.sink.route(nil)
	}
}

// rateMeter measures a rate over a moving window of samples of a running
// count, so the ETA follows the current pace (a slow start, a rate limit,
// a cache that answers the first thousand requests at once) instead of
// the average since the start.
type rateMeter struct {
	began   time.Time
	samples []rateSample // oldest first; at most one per sampleEvery
}

type rateSample struct {
	t time.Time
	n int
}

const (
	rateWindow  = 30 * time.Second
	sampleEvery = 250 * time.Millisecond
	// etaAfter is how long a stage runs before it shows an ETA: the first
	// requests' pace (connections opening, concurrency ramping up) says
	// little about the rest.
	etaAfter = 2 * time.Second
)

// add records that n items (a running count) were done by t.
func (m *rateMeter) add(t time.Time, n int) {
	if m.began.IsZero() {
		m.began = t
	}
	if k := len(m.samples); k >= 2 && t.Sub(m.samples[k-2].t) < sampleEvery {
		m.samples[k-1] = rateSample{t, n} // one sample per interval
		return
	}
	m.samples = append(m.samples, rateSample{t, n})
	// Drop samples older than the window, keeping the last one at or
	// before its start as the baseline.
	cut := 0
	for cut+1 < len(m.samples) && t.Sub(m.samples[cut+1].t) >= rateWindow {
		cut++
	}
	if cut > 0 {
		m.samples = append(m.samples[:0], m.samples[cut:]...)
	}
}

// rate is items per second from the window's baseline up to now (a stall
// lowers it as it lasts); 0 before anything was measured.
func (m *rateMeter) rate(now time.Time) float64 {
	if len(m.samples) == 0 {
		return 0
	}
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	span := now.Sub(first.t).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(last.n-first.n) / span
}

// eta is the time left for remaining items at the current rate, "?" while
// it cannot be told.
func (m *rateMeter) eta(now time.Time, remaining int) string {
	if remaining <= 0 {
		return "0s"
	}
	if m.began.IsZero() || now.Sub(m.began) < etaAfter {
		return "?"
	}
	r := m.rate(now)
	if r <= 0 {
		return "?"
	}
	return time.Duration(float64(remaining) / r * float64(time.Second)).Round(time.Second).String()
}

// logSink is the logger's output. While progress bars are drawn, lines go
// through the bars' container, which prints them above the bars instead
// of into the bar being redrawn.
type logSink struct {
	base io.Writer

	mu   sync.Mutex
	over io.Writer
}

func (s *logSink) route(w io.Writer) {
	s.mu.Lock()
	s.over = w
	s.mu.Unlock()
}

func (s *logSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	w := s.over
	s.mu.Unlock()
	if w != nil {
		// The container refuses writes once it has shut down: those go
		// to the base output, never nowhere.
		if n, err := w.Write(b); err == nil {
			return n, nil
		}
	}
	return s.base.Write(b)
}

// sizedConsole is a console writer whose width is never 0: a terminal
// that reports no size (a pty nobody sized) would get bars of no width.
type sizedConsole struct{ *cupwriter.Writer }

func (c sizedConsole) GetTermSize() (int, int, error) {
	w, h, err := c.Writer.GetTermSize()
	if err != nil || w <= 0 {
		return 100, 40, nil
	}
	return w, h, nil
}

// roundDuration keeps two or three significant figures.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
