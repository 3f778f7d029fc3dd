package engine

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/core/apictl"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/secret"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// TeacherErrorNS is the store's kv namespace of each teacher's last error
// (TeacherError), which `polyglot status` shows, also while a run goes.
const TeacherErrorNS = "teacher_error"

// TeacherError is the last error a teacher's calls met.
type TeacherError struct {
	Teacher string    `json:"teacher"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
	// Stopped: the teacher was stopped by it (see apictl.ErrStopped); else
	// it was one failure among others, retried or recorded.
	Stopped bool `json:"stopped"`
}

// TeacherErrors reads every teacher's last error from a store.
func TeacherErrors(st *store.Store) ([]TeacherError, error) {
	keys, err := st.KVKeys(TeacherErrorNS)
	if err != nil {
		return nil, err
	}
	out := make([]TeacherError, 0, len(keys))
	for _, k := range keys {
		var te TeacherError
		if ok, err := st.KVGet(TeacherErrorNS, k, &te); err != nil {
			return nil, err
		} else if ok {
			out = append(out, te)
		}
	}
	return out, nil
}

// failureNoteEvery bounds how often a teacher's failures are logged and
// saved for `status` while they go on.
const failureNoteEvery = 10 * time.Second

// noteFailure records that a call of teacher c failed: the first failure
// and then one every failureNoteEvery are logged at warn level (with how
// many came in between) and saved as the teacher's last error, so that a
// run that is retrying says why instead of only its ETA growing.
func (g *generator) noteFailure(c *teacherConn, ce *sdk.CallError, retrying bool) {
	if ce == nil || ce.Code == sdk.ErrCancelled {
		return
	}
	now := time.Now()
	c.noteMu.Lock()
	c.noteSince++
	if now.Sub(c.noteAt) < failureNoteEvery {
		c.noteMu.Unlock()
		return
	}
	n := c.noteSince
	c.noteAt, c.noteSince = now, 0
	c.noteMu.Unlock()
	ev := g.r.log.Warn().Str("teacher", c.name).Str("error", ce.Error()).Int("failed_calls", n)
	if retrying {
		ev.Msg("calls are failing and being retried")
	} else {
		ev.Msg("calls are failing")
	}
	g.saveTeacherError(c, TeacherError{Teacher: c.name, Code: ce.Code.String(), Message: ce.Error(), At: now})
}

// noteStop logs a teacher's stop once, at error level, and saves it.
func (g *generator) noteStop(c *teacherConn, stop *apictl.StoppedError) {
	c.stopOnce.Do(func() {
		g.r.log.Error().Str("teacher", c.name).Msg(stop.Error())
		te := TeacherError{Teacher: c.name, Message: stop.Error(), At: time.Now(), Stopped: true}
		if stop.Cause != nil {
			te.Code = stop.Cause.Code.String()
		}
		g.saveTeacherError(c, te)
	})
}

// saveTeacherError saves te as the teacher's last error; once its stop
// is saved, a failure of a call still in flight then does not replace it.
func (g *generator) saveTeacherError(c *teacherConn, te TeacherError) {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	if c.savedStop && !te.Stopped {
		return
	}
	c.savedStop = c.savedStop || te.Stopped
	if err := g.r.Store.KVPut(TeacherErrorNS, te.Teacher, te); err != nil {
		g.r.log.Debug().Err(err).Msg("could not save the teacher's last error for `status`")
	}
}

// ReasonName is the name --retry-failed takes for a failure reason:
// "call_error:not_found" is "not_found"; other reasons ("too_long",
// "parse_error") are their own name.
func ReasonName(reason string) string {
	return strings.TrimPrefix(reason, "call_error:")
}

// reasonsLine renders failure reasons as "12 × call_error:auth (gpt, final), …".
func reasonsLine(rs []store.FailureReason, n int) string {
	var parts []string
	for _, r := range rs[:min(n, len(rs))] {
		kind := "retried next run"
		if r.Final {
			kind = "final"
		}
		parts = append(parts, fmt.Sprintf("%d × %s (%s, %s)", r.Count, r.Reason, r.Teacher, kind))
	}
	if len(rs) > n {
		parts = append(parts, fmt.Sprintf("and %d more", len(rs)-n))
	}
	return strings.Join(parts, ", ")
}

// retryHint says how to send final failures again, naming their reasons
// ("" when there are none: the next run sends the others anyway).
func retryHint(rs []store.FailureReason) string {
	var names []string
	for _, r := range rs {
		if r.Final && !slices.Contains(names, ReasonName(r.Reason)) {
			names = append(names, ReasonName(r.Reason))
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return fmt.Sprintf("requests that failed for good are not sent again by a plain rerun: fix the cause and run again with `polyglot run --retry-failed` (all) or `--retry-failed=%s`", strings.Join(names, ","))
}

// reportFailures logs the failure reasons of the units run in this
// invocation (at warn level, with one raw example each for the top ones)
// and returns an error when the generate stage produced nothing at all.
func (r *Runner) reportFailures(units []*plan.Unit, since time.Time) error {
	keys := make([]string, len(units))
	for i, u := range units {
		keys[i] = u.Key
	}
	rs, err := r.Store.FailureReasons(keys, since)
	if err != nil {
		return err
	}
	examples := 0
	for _, k := range keys {
		n, err := r.Store.CountExamples(store.Filter{Unit: k})
		if err != nil {
			return err
		}
		examples += n
	}
	failed := 0
	for _, x := range rs {
		failed += x.Count
	}
	for i, x := range rs {
		if i == 3 {
			break
		}
		r.log.Warn().Str("teacher", x.Teacher).Str("reason", x.Reason).Int("count", x.Count).Bool("final", x.Final).
			Str("example", oneLine(x.Example, 600)).Msg("requests failed")
	}
	if failed > 0 {
		msg := "some requests failed; the next run sends them again"
		if h := retryHint(rs); h != "" {
			msg = "some requests failed: " + h
		}
		r.log.Warn().Int("failed", failed).Int("examples", examples).Msg(msg)
	}
	r.mu.Lock()
	unitErrs := append([]unitFailure(nil), r.failed...)
	r.mu.Unlock()
	if examples > 0 || len(units) == 0 || (failed == 0 && len(unitErrs) == 0) {
		return nil
	}
	var parts []string
	if len(unitErrs) > 0 {
		parts = append(parts, fmt.Sprintf("%s failed: %s", plural(len(unitErrs), "unit"), summarizeUnitErrors(unitErrs)))
	}
	if failed > 0 {
		p := fmt.Sprintf("%s failed (%s)", plural(failed, "request"), reasonsLine(rs, 3))
		if rs[0].Example != "" {
			p += fmt.Sprintf("; example of %s from %s: %s", rs[0].Reason, rs[0].Teacher, oneLine(rs[0].Example, 600))
		}
		parts = append(parts, p)
	}
	msg := "generate produced no examples: " + strings.Join(parts, ". ")
	if h := retryHint(rs); h != "" {
		msg = strings.TrimSuffix(msg, ".") + ". " + upperFirst(h)
	}
	return &nothingProduced{msg}
}

// nothingProduced ends a run whose generate stage made no example: the
// later stages would only fail for want of data.
type nothingProduced struct{ msg string }

func (e *nothingProduced) Error() string { return e.msg }

// ErrNothingProduced matches the error of a run whose generate stage
// produced no example (errors.Is).
var ErrNothingProduced = errors.New("generate produced no examples")

func (e *nothingProduced) Is(target error) bool { return target == ErrNothingProduced }

// oneLine folds a stored payload onto one line of at most n bytes, with
// every secret redacted (stored strings are already; this is the choke
// point's guarantee for text that goes into an error message).
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(secret.Redact(s)), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// summarizeUnitErrors groups failed units by their error, so that a
// teacher stopped in twenty units reads as one error, not twenty.
func summarizeUnitErrors(failed []unitFailure) string {
	type group struct {
		err    string
		labels []string
	}
	var groups []*group
	byErr := map[string]*group{}
	for _, f := range failed {
		g := byErr[f.err]
		if g == nil {
			g = &group{err: f.err}
			byErr[f.err] = g
			groups = append(groups, g)
		}
		g.labels = append(g.labels, f.label)
	}
	var parts []string
	for _, g := range groups[:min(5, len(groups))] {
		who := strings.Join(g.labels[:min(3, len(g.labels))], ", ")
		if len(g.labels) > 3 {
			who += fmt.Sprintf(" and %d more", len(g.labels)-3)
		}
		parts = append(parts, fmt.Sprintf("%s: %s", who, g.err))
	}
	if len(groups) > 5 {
		parts = append(parts, fmt.Sprintf("and %d other errors", len(groups)-5))
	}
	return strings.Join(parts, "; ")
}

type unitFailure struct{ label, err string }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
