package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/polyglot-teachers/polyglot/core/apictl"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/screening"
	"github.com/polyglot-teachers/polyglot/core/servers"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// Options tune a run.
type Options struct {
	// Only restricts the run to units whose fields match (keys: teacher,
	// language, strategy, metric, student, stage).
	Only map[string]string
	Log  zerolog.Logger
	// Progress receives progress events; nil = none.
	Progress Progress
	// Cache is a response cache shared by experiments; nil = the store's own.
	Cache store.Cache
	// NoCache turns the response cache off (a re-run still sends nothing:
	// finished requests are in the store).
	NoCache bool
	// MetricBatch is the number of examples per metric batch (default 256).
	MetricBatch int
	// RetryFailed sends the requests that failed for good (final failures,
	// e.g. a 404 for a model pulled since) again, restricted to the
	// reasons in RetryReasons when that is not nil ("not_found",
	// "call_error:auth", "too_long"), and to the units the run matches.
	RetryFailed  bool
	RetryReasons []string
	// StageConcurrency bounds how many units of one stage run at once
	// (default 2: this is a laptop-friendly default; API-bound generation
	// gets its parallelism from each teacher's concurrency limit).
	StageConcurrency int
	// KeepServers leaves the model servers running at the end of the run
	// (the next run re-attaches); MaxServers bounds how many run at once
	// (0: no bound).
	KeepServers bool
	MaxServers  int
}

// Progress is told what happens; the CLI draws bars or logs lines.
type Progress interface {
	// StageStart: of the stage's items, done were done by an earlier run
	// (requests of resumed units): a resumed bar starts there, not at 0.
	StageStart(stage plan.Stage, units, items, done int)
	Advance(stage plan.Stage, items int, costUSD float64)
	StageDone(stage plan.Stage)
}

type nopProgress struct{}

func (nopProgress) StageStart(plan.Stage, int, int, int) {}
func (nopProgress) Advance(plan.Stage, int, float64)     {}
func (nopProgress) StageDone(plan.Stage)                 {}

// Runner executes a prepared plan against a store.
type Runner struct {
	P     *Prepared
	Store *store.Store
	Opts  Options
	log   zerolog.Logger

	writer *store.Writer
	gen    *generator
	// seedIdx indexes the seed rows once for all units (seedindex.go).
	seedIdx seedIndex
	// cells keeps the last cells' metric samples (cellcache.go).
	cells cellSamples
	// servers runs the experiment's model servers; needs lists, by unit
	// key, the servers each unit of this run needs.
	servers *servers.Manager
	needs   map[string][]string
	mu      sync.Mutex
	failed  []unitFailure
	// tracker holds the screening's decisions while it is on (screen.go);
	// nil runs every cell in full.
	tracker *screening.Tracker
}

// Match reports whether u passes the --only filter.
func (o Options) Match(u *plan.Unit) bool {
	for k, v := range o.Only {
		got := u.Field(k)
		// Units that do not have the field (a base student has no teacher)
		// are kept unless the filter is about their own kind.
		if got != "" && got != v {
			return false
		}
		if got == "" && k == "stage" {
			return false
		}
	}
	return true
}

// ParseOnly parses "teacher=aya,language=de".
func ParseOnly(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok || v == "":
			return nil, fmt.Errorf("--only wants key=value pairs separated by commas, got %q", part)
		case k != "teacher" && k != "language" && k != "strategy" && k != "metric" && k != "student" && k != "stage":
			return nil, fmt.Errorf("--only: unknown key %q; use teacher, language, strategy, metric, student or stage", k)
		case out[k] != "":
			// One value per key: a second would silently replace the first.
			return nil, fmt.Errorf("--only: %s is given twice (%s and %s); run the two parts one after the other", k, out[k], v)
		}
		out[k] = v
	}
	return out, nil
}

// Run executes every unit that is not done yet, stage by stage.
func Run(ctx context.Context, p *Prepared, st *store.Store, opts Options) error {
	if opts.Progress == nil {
		opts.Progress = nopProgress{}
	}
	if opts.MetricBatch <= 0 {
		opts.MetricBatch = 256
	}
	if opts.StageConcurrency <= 0 {
		opts.StageConcurrency = 2
	}
	r := &Runner{P: p, Store: st, Opts: opts, log: opts.Log}
	defer r.closeSeeds()
	units := make([]store.Unit, len(p.Plan.Units))
	for i, u := range p.Plan.Units {
		units[i] = store.Unit{Key: u.Key, Stage: string(u.Stage), Label: u.Label, State: store.Pending}
	}
	if err := st.PutUnits(units); err != nil {
		return err
	}
	// This process holds the store's lock, so units still marked running
	// belong to a run that was killed: they are pending again. Otherwise
	// `polyglot status` shows them running for ever when the next run is
	// restricted with --only and does not reach them.
	if n, err := st.ResetRunning(); err != nil {
		return err
	} else if n > 0 {
		opts.Log.Info().Int("units", n).Msg("units left running by a killed run are pending again")
	}
	if opts.RetryFailed {
		if err := r.retryFailed(); err != nil {
			return err
		}
	} else if err := r.warnFinalFailures(); err != nil {
		return err
	}
	// Failures are stamped by the store's clock in milliseconds: the run's
	// own start from a millisecond earlier.
	since := time.Now().Add(-time.Millisecond)
	stopServers, err := r.startServers()
	if err != nil {
		return err
	}
	defer stopServers()
	r.writer = st.NewWriter(store.WriterOptions{})
	defer r.writer.Close()
	r.gen = newGenerator(r)
	defer r.gen.close()
	// Every plugin, also one restarted during the run, may call back.
	p.Plugins.SetHost(&host{r: r})
	if err := r.screen(ctx); err != nil {
		return err
	}
	// The report scores what the cells have: when the set of cells
	// screening leaves out changed (a stage dropped more, or screening was
	// switched off to finish them), the score unit runs again.
	scoreKeys := p.Plan.Of(plan.Score)
	dropped := r.droppedSignature()
	var scoredWith string
	if _, err := st.KVGet(screeningNS, "scored_with", &scoredWith); err != nil {
		return err
	}
	if scoredWith != dropped {
		for _, u := range scoreKeys {
			if err := st.SetUnit(u.Key, store.Pending, nil); err != nil {
				return err
			}
		}
	}
	for _, stage := range plan.Stages {
		ran, err := r.runStage(ctx, stage)
		if stage == plan.Metrics {
			r.cells.clear()
		}
		if err != nil {
			return err
		}
		if err := r.writer.Flush(); err != nil {
			return err
		}
		if stage == plan.Generate {
			// A stage that made nothing is a failure, whatever the units'
			// states: say why, and do not go on to measure nothing.
			if err := r.reportFailures(ran, since); err != nil {
				return err
			}
		}
	}
	for _, u := range scoreKeys {
		if su, ok, err := st.Unit(u.Key); err != nil {
			return err
		} else if ok && su.State == store.Done && scoredWith != dropped {
			if err := st.KVPut(screeningNS, "scored_with", dropped); err != nil {
				return err
			}
		}
	}
	if len(r.failed) > 0 {
		return fmt.Errorf("%d units failed (the rest is saved): %s", len(r.failed), summarizeUnitErrors(r.failed))
	}
	return nil
}

// retryFailed turns the final failures the run may send again into
// ordinary ones, and sets their units and everything that depends on them
// pending, so that the run generates, measures and scores them again.
func (r *Runner) retryFailed() error {
	var keys []string
	for _, u := range r.P.Plan.Of(plan.Generate) {
		if r.Opts.Match(u) {
			keys = append(keys, u.Key)
		}
	}
	n, units, err := r.Store.RetryFailed(r.Opts.RetryReasons, keys)
	if err != nil {
		return err
	}
	if n == 0 {
		if r.Opts.RetryReasons == nil {
			r.log.Info().Msg("--retry-failed: no request failed for good; nothing to send again")
			return nil
		}
		have, err := r.Store.ReasonsOf(true)
		if err != nil {
			return err
		}
		names := make([]string, len(have))
		for i, h := range have {
			names[i] = ReasonName(h)
		}
		if len(names) == 0 {
			return fmt.Errorf("--retry-failed=%s: no request failed for good, for any reason", strings.Join(r.Opts.RetryReasons, ","))
		}
		return fmt.Errorf("--retry-failed=%s matches no request that failed for good; the reasons stored are: %s", strings.Join(r.Opts.RetryReasons, ","), strings.Join(names, ", "))
	}
	again := map[string]bool{}
	for _, k := range units {
		again[k] = true
	}
	// Units come in stage order, so one pass reaches every dependent.
	var pending []string
	for _, u := range r.P.Plan.Units {
		dep := again[u.Key]
		for _, d := range u.Deps {
			dep = dep || again[d]
		}
		if dep {
			again[u.Key] = true
			pending = append(pending, u.Key)
		}
	}
	for _, k := range pending {
		if err := r.Store.SetUnit(k, store.Pending, nil); err != nil {
			return err
		}
	}
	r.log.Info().Int("requests", n).Int("units", len(pending)).Msg("--retry-failed: requests that failed for good are sent again")
	return nil
}

// warnFinalFailures says, before anything runs, how many requests failed
// for good in earlier runs: a plain rerun does not send them, which must
// not pass unnoticed when their cause has been fixed since.
func (r *Runner) warnFinalFailures() error {
	var keys []string
	for _, u := range r.P.Plan.Of(plan.Generate) {
		if r.Opts.Match(u) {
			keys = append(keys, u.Key)
		}
	}
	rs, err := r.Store.FailureReasons(keys, time.Time{})
	if err != nil {
		return err
	}
	var final []store.FailureReason
	n := 0
	for _, x := range rs {
		if x.Final {
			final = append(final, x)
			n += x.Count
		}
	}
	if n > 0 {
		r.log.Warn().Int("requests", n).Str("reasons", reasonsLine(final, 3)).Msg("requests that failed for good in earlier runs are not sent again: " + retryHint(final))
	}
	return nil
}

// runStage runs the stage's units that are not done and returns them.
func (r *Runner) runStage(ctx context.Context, stage plan.Stage) ([]*plan.Unit, error) {
	var todo []*plan.Unit
	items, done := 0, 0
	for _, u := range r.P.Plan.Of(stage) {
		if !r.Opts.Match(u) {
			continue
		}
		su, ok, err := r.Store.Unit(u.Key)
		if err != nil {
			return nil, err
		}
		if ok && su.State == store.Done {
			continue
		}
		if r.skipped(u) {
			r.skipServers(u) // dropped by screening: it will not hold them
			continue
		}
		todo = append(todo, u)
		items += max(u.N, 1)
		if ok && stage == plan.Generate {
			n, err := r.Store.DoneRequestCount(u.Key)
			if err != nil {
				return nil, err
			}
			done += min(n, u.N)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	r.Opts.Progress.StageStart(stage, len(todo), items, done)
	defer r.Opts.Progress.StageDone(stage)
	start := time.Now()
	conc := r.Opts.StageConcurrency
	if stage == plan.Generate {
		conc = len(todo) // bounded per teacher by its own limits
	}
	// Units may depend on units of the same stage (a student continues its
	// base): those wait for them. Everything else was settled by earlier stages.
	finished := map[string]chan struct{}{}
	for _, u := range todo {
		finished[u.Key] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(conc, 1))
	for _, u := range todo {
		g.Go(func() error {
			defer close(finished[u.Key])
			for _, d := range u.Deps {
				if ch, ok := finished[d]; ok {
					select {
					case <-ch:
					case <-gctx.Done():
						return gctx.Err()
					}
				}
			}
			// Scoring goes ahead when a metric or evaluation failed: it
			// scores what is there and the report names what is missing.
			if !r.depsDone(u) && (stage != plan.Score || !r.depsSettled(u)) {
				r.log.Warn().Str("unit", u.Label).Msg("skipped: what it depends on is not done (restricted with --only, or failed)")
				r.skipServers(u)
				return nil
			}
			if err := r.Store.SetUnit(u.Key, store.Running, nil); err != nil {
				r.skipServers(u)
				return err
			}
			release, err := r.acquireServers(gctx, u)
			var detail any
			if err == nil {
				detail, err = r.runUnit(gctx, u)
				release()
			}
			if err != nil {
				if errors.Is(err, context.Canceled) || gctx.Err() != nil {
					_ = r.Store.SetUnit(u.Key, store.Pending, nil)
					return ctx.Err()
				}
				var fatal *fatalError
				if errors.As(err, &fatal) {
					_ = r.Store.SetUnit(u.Key, store.Pending, map[string]string{"error": err.Error()})
					return err
				}
				if errors.Is(err, apictl.ErrStopped) {
					// The stop itself was logged once, with its cause.
					r.log.Warn().Str("unit", u.Label).Msg("unit stopped with its teacher")
				} else {
					r.log.Error().Str("unit", u.Label).Err(err).Msg("unit failed")
				}
				r.mu.Lock()
				r.failed = append(r.failed, unitFailure{u.Label, err.Error()})
				r.mu.Unlock()
				return r.Store.SetUnit(u.Key, store.Failed, map[string]string{"error": err.Error()})
			}
			if err := r.writer.Flush(); err != nil {
				return err
			}
			return r.Store.SetUnit(u.Key, store.Done, detail)
		})
	}
	err := g.Wait()
	r.log.Info().Str("stage", string(stage)).Int("units", len(todo)).Dur("took", time.Since(start).Round(time.Millisecond)).Msg("stage finished")
	return todo, err
}

// fatalError stops the whole run (budget exhausted, store unwritable).
type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }
func (f *fatalError) Unwrap() error { return f.err }

// depsSettled reports whether every unit u depends on is done or failed.
func (r *Runner) depsSettled(u *plan.Unit) bool {
	for _, d := range u.Deps {
		if du := r.P.Plan.Unit(d); du != nil && r.skipped(du) {
			continue // dropped by screening: scored on its last stage
		}
		su, ok, err := r.Store.Unit(d)
		if err != nil || !ok || (su.State != store.Done && su.State != store.Failed) {
			return false
		}
	}
	return true
}

func (r *Runner) depsDone(u *plan.Unit) bool {
	for _, d := range u.Deps {
		su, ok, err := r.Store.Unit(d)
		if err != nil || !ok || su.State != store.Done {
			return false
		}
	}
	return true
}

func (r *Runner) runUnit(ctx context.Context, u *plan.Unit) (any, error) {
	switch u.Stage {
	case plan.Generate:
		return r.gen.runUnit(ctx, u)
	case plan.Metrics:
		return r.runMetric(ctx, u)
	case plan.Train:
		return r.runTrain(ctx, u)
	case plan.Evaluate:
		return r.runEvaluate(ctx, u)
	case plan.Score:
		return r.runScore(ctx, u)
	}
	return nil, fmt.Errorf("unknown stage %q", u.Stage)
}

// WorkDir is a unit's own folder for files it produces.
func (r *Runner) WorkDir(u *plan.Unit) (string, error) {
	d := filepath.Join(r.Store.Dir(), "work", string(u.Stage), u.Key[:16])
	return d, os.MkdirAll(d, 0o755)
}

// ReportDir is where `polyglot run` and `polyglot report` write the report.
func ReportDir(storeDir string) string { return filepath.Join(storeDir, "report") }
