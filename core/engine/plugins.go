package engine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"

	"github.com/polyglot-teachers/polyglot/core/bind"
	"github.com/polyglot-teachers/polyglot/core/pluginhost"
)

// maxUnitRestarts is how many times a metric or student unit starts its
// plugin again after it died under the unit, redoing the unit's work from
// its start, before the unit fails.
const maxUnitRestarts = 2

// withPlugin runs call on the live process of comp's plugin. When the
// process dies under the call, the plugin is started again and call runs
// again from its start, at most maxUnitRestarts times: a crash fails one
// attempt, not every remaining unit of the plugin. call's plugin errors
// come back explained (naming the plugin).
func (r *Runner) withPlugin(ctx context.Context, comp *bind.Component, unit string, call func(run *pluginhost.Running) error) error {
	mgr := r.P.Plugins
	run := comp.Running
	for attempt := 0; ; attempt++ {
		var err error
		if run, err = mgr.Live(ctx, run); err != nil {
			return err
		}
		err = call(run)
		if err == nil {
			return nil
		}
		var fatal *fatalError
		died := !errors.As(err, &fatal) && ctx.Err() == nil && mgr.Died(run, err)
		if _, ok := status.FromError(err); ok {
			err = mgr.ExplainErr(run, err)
		}
		if !died {
			return err
		}
		if attempt >= maxUnitRestarts {
			return fmt.Errorf("plugin %q died %d times during %s, so the unit failed: %w", run.Name, attempt+1, unit, err)
		}
		r.log.Warn().Str("unit", unit).Str("plugin", run.Name).Err(err).Msg("plugin died during the unit; starting it again and redoing the unit")
		if _, err := mgr.Restart(ctx, run, err); err != nil {
			return err
		}
	}
}

// callWatch bounds each call of a plugin stream by the plugin call
// timeout: it cancels the stream's context when a call takes longer.
type callWatch struct {
	timeout time.Duration
	cancel  context.CancelFunc
	timer   *time.Timer
	fired   atomic.Bool
}

func newCallWatch(ctx context.Context, timeout time.Duration) (context.Context, *callWatch) {
	ctx, cancel := context.WithCancel(ctx)
	w := &callWatch{timeout: timeout, cancel: cancel}
	w.timer = time.AfterFunc(time.Hour, func() { w.fired.Store(true); cancel() })
	w.timer.Stop()
	return ctx, w
}

// start arms the watch for one call; stop disarms it.
func (w *callWatch) start() { w.timer.Reset(w.timeout) }
func (w *callWatch) stop()  { w.timer.Stop() }

// close ends the stream's context.
func (w *callWatch) close() { w.timer.Stop(); w.cancel() }

// err turns the error of a call that the watch cut short into a sentence
// naming the plugin and the timeout.
func (w *callWatch) err(run *pluginhost.Running, what string, err error) error {
	if err != nil && w.fired.Load() {
		return fmt.Errorf("plugin %q (%s) did not answer %s within %s (the plugin call timeout; raise it with --plugin-call-timeout)", run.Name, run.Path, what, w.timeout)
	}
	return err
}
