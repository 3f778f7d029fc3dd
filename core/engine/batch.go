package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/polyglot-teachers/polyglot/core/apictl"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/core/strategy"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// Batch mode (a teacher block with batch = true) sends a whole unit's
// calls through the provider's batch API: one submission, then polling,
// then every result parsed and committed exactly as the streaming path
// does. The batch id is written to the store's KV table (namespace
// "batch", key = unit key) before the first poll, so a restarted run polls
// the batch it already paid for instead of submitting again; the entry is
// removed once the results are committed. The only window for a second
// submission is a crash between the provider accepting the batch and the
// KV write, which no client can close without provider-side idempotency.
//
// Batch mode runs single-step strategies only: a second step would need
// the first step's answers, i.e. a second batch per unit. Re-asks after an
// unusable structured answer are not made (a re-ask would be another
// batch); the answer is recorded as a failure with its reason.

const batchNS = "batch"

// batchPollEnv overrides the poll interval (a Go duration); tests use a
// few milliseconds, real batches take minutes to hours.
const batchPollEnv = "POLYGLOT_BATCH_POLL"

const (
	defaultBatchPoll = 30 * time.Second
	// maxPollErrors consecutive poll errors end the unit (failed, batch id
	// kept: the next run resumes polling).
	maxPollErrors = 8
)

// batchState is what the store keeps of a submitted batch.
type batchState struct {
	BatchID   string    `json:"batch_id"`
	Teacher   string    `json:"teacher"`
	Calls     int       `json:"calls"`
	Submitted time.Time `json:"submitted"`
}

func batchPollInterval() (time.Duration, error) {
	s := os.Getenv(batchPollEnv)
	if s == "" {
		return defaultBatchPoll, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive Go duration (e.g. 30s)", batchPollEnv, s)
	}
	return d, nil
}

// batchCall is one request of the unit with the call built for it.
type batchCall struct {
	req     *strategy.Request
	key     string
	call    *sdk.Call
	tmplErr error // the call could not be built
}

// runBatchUnit is runUnit for a teacher in batch mode.
func (g *generator) runBatchUnit(ctx context.Context, u *plan.Unit) (any, error) {
	ts := g.r.P.Exp.Teacher(u.Teacher)
	st := g.r.P.Exp.Strategy(u.Strategy)
	if ts == nil || st == nil {
		return nil, fmt.Errorf("batch mode: teacher %q or strategy %q is not in the spec", u.Teacher, u.Strategy)
	}
	if len(st.Steps) != 1 {
		return nil, fmt.Errorf("teacher %q has batch = true, but strategy %q has %d steps: batch mode runs single-step strategies only (each step would need the previous step's answers). Set batch = false on this teacher, or leave this strategy out", u.Teacher, u.Strategy, len(st.Steps))
	}
	step := st.Steps[0]
	if step.Teacher != "" && step.Teacher != "self" && step.Teacher != u.Teacher {
		return nil, fmt.Errorf("teacher %q has batch = true, but step %q of strategy %q calls teacher %q: batch mode sends only the cell's own teacher's calls", u.Teacher, step.Name, u.Strategy, step.Teacher)
	}
	interval, err := batchPollInterval()
	if err != nil {
		return nil, &fatalError{err}
	}
	rows, err := g.seedRows()
	if err != nil {
		return nil, &fatalError{err}
	}
	lang, err := strategy.ResolveLanguage(u.Language)
	if err != nil {
		return nil, err
	}
	reqs := strategy.Expand(st, rows, u.Language, u.N, u.Seed)
	if len(reqs) == 0 {
		return nil, fmt.Errorf("strategy %q has no seed rows for language %q (check its input block and the seeds' language and strategies columns)", st.Name, u.Language)
	}
	sampling := resolveSampling(ts)
	// Every request's call, built the same way on every run so that a
	// resumed batch's results map back by call id.
	byID := make(map[string]*batchCall, len(reqs))
	all := make([]*batchCall, 0, len(reqs))
	var templateFails []*batchCall
	for i := range reqs {
		req := &reqs[i]
		bc := &batchCall{req: req, key: requestKey(u.Key, req.ID)}
		call, err := strategy.BuildCall(step, req, map[string]strategy.StepOutput{}, lang)
		if err != nil {
			bc.tmplErr = err
			templateFails = append(templateFails, bc)
			continue
		}
		call.Metadata["seed_prompt"] = req.Seed.Prompt
		call.Metadata["cell"] = u.Teacher + "/" + u.Language
		applySampling(call, sampling)
		// Short ids: providers bound custom_id (Anthropic: 64 characters
		// of [A-Za-z0-9_-]), and the request index is unique in the unit
		// and stable across runs, so a resumed batch still maps back.
		call.ID = "r" + strconv.Itoa(req.Index)
		bc.call = call
		byID[call.ID] = bc
		all = append(all, bc)
	}

	open, client, err := g.batchClient(ctx, u.Teacher, ts)
	if err != nil {
		return nil, err
	}
	var state batchState
	found, err := g.r.Store.KVGet(batchNS, u.Key, &state)
	if err != nil {
		return nil, err
	}
	done, err := g.r.Store.DoneRequests(u.Key)
	if err != nil {
		return nil, err
	}
	produced, failed := 0, 0
	var pending []*batchCall
	if !found {
		for _, bc := range templateFails {
			if done[bc.key] {
				continue
			}
			if err := g.commit(ctx, nil, &store.Failure{Key: bc.key, Unit: u.Key, Teacher: u.Teacher, Language: u.Language, Strategy: u.Strategy, Seed: int(u.Seed), Reason: "template_error", Raw: bc.tmplErr.Error(), Final: true}); err != nil {
				return nil, err
			}
			failed++
			g.r.Opts.Progress.Advance(plan.Generate, 1, 0)
		}
		for _, bc := range all {
			if !done[bc.key] {
				pending = append(pending, bc)
			}
		}
		if len(pending) == 0 {
			return g.batchDone(u, reqs, produced, failed, "")
		}
	}

	// Spend: the whole batch is reserved before it is sent, since nothing
	// can be stopped once the provider has it.
	est := 0.0
	for _, bc := range orAll(pending, all, found) {
		in := 0
		for _, m := range bc.call.Messages {
			in += len(m.Content) / 4
		}
		out := bc.call.Sampling.MaxTokens
		if out <= 0 {
			out = 1024
		}
		est += apictl.EstimateCost(ts.Price, in, out)
	}
	budgets, err := g.reserveBatch(u.Teacher, ts, est)
	if err != nil {
		return nil, err
	}
	spent := 0.0
	defer func() {
		for _, b := range budgets {
			b.Settle(est, spent)
		}
	}()

	if !found {
		calls := make([]*sdk.Call, len(pending))
		for i, bc := range pending {
			calls[i] = bc.call
		}
		id, diags, err := client.SubmitBatch(ctx, open, calls)
		if err != nil {
			return nil, fmt.Errorf("teacher %q: submitting a batch of %d calls: %w", u.Teacher, len(calls), g.r.P.Plugins.ExplainErr(g.r.P.Bound.Teachers[u.Teacher].Running, err))
		}
		if diags.HasErrors() {
			return nil, fmt.Errorf("teacher %q: %w", u.Teacher, diags.Err())
		}
		if id == "" {
			return nil, fmt.Errorf("teacher %q: the plugin accepted a batch but returned no batch id", u.Teacher)
		}
		state = batchState{BatchID: id, Teacher: u.Teacher, Calls: len(calls), Submitted: time.Now().UTC()}
		if err := g.r.Store.KVPut(batchNS, u.Key, state); err != nil {
			// The batch runs at the provider but cannot be found again:
			// say which one, so it can be cancelled by hand.
			return nil, &fatalError{fmt.Errorf("batch %s of teacher %q was submitted but its id could not be saved (%w); cancel it in the provider's console to avoid paying twice", id, u.Teacher, err)}
		}
		g.r.log.Info().Str("unit", u.Label).Str("batch", id).Int("calls", len(calls)).Msg("batch submitted")
	} else {
		g.r.log.Info().Str("unit", u.Label).Str("batch", state.BatchID).Msg("resuming a submitted batch")
	}

	status, results, err := g.pollBatch(ctx, u, client, open, state.BatchID, interval)
	if err != nil {
		return nil, err
	}
	// Commit every outcome at once: the group commit writes them in a few
	// transactions instead of one per result.
	var outs []commitReq
	seen := make(map[string]bool, len(results))
	for _, res := range results {
		bc := byID[res.ID]
		if bc == nil {
			g.r.log.Warn().Str("batch", state.BatchID).Str("id", res.ID).Msg("a batch result matches no request of this unit; ignored")
			continue
		}
		if seen[res.ID] {
			continue
		}
		seen[res.ID] = true
		cost := apictl.EstimateCost(ts.Price, int(res.Usage.InputTokens), int(res.Usage.OutputTokens))
		spent += cost
		ex, fail := g.batchOutcome(u, st, step, bc, res, cost)
		outs = append(outs, commitReq{ex: ex, fail: fail})
		if ex != nil {
			produced++
		} else if fail.Final {
			failed++
		}
	}
	if status != "done" {
		// A failed or expired batch: what has no result ran nowhere and is
		// sent again by the next run.
		for _, bc := range orAll(pending, all, found) {
			if !seen[bc.call.ID] && !done[bc.key] {
				outs = append(outs, commitReq{fail: &store.Failure{Key: bc.key, Unit: u.Key, Teacher: u.Teacher, Language: u.Language, Strategy: u.Strategy, Seed: int(u.Seed),
					Reason: "batch_" + status, Raw: "batch " + state.BatchID + " ended " + status + " without a result for this request", Attempts: 1}})
			}
		}
	}
	if err := g.commitAll(ctx, outs); err != nil {
		return nil, err
	}
	for _, o := range outs {
		cost := 0.0
		if o.ex != nil {
			cost = o.ex.CostUSD
		}
		g.r.Opts.Progress.Advance(plan.Generate, 1, cost)
	}
	if err := g.r.Store.KVDelete(batchNS, u.Key); err != nil {
		return nil, err
	}
	return g.batchDone(u, reqs, produced, failed, state.BatchID)
}

// orAll is the calls a batch holds: the pending ones when it was just
// submitted, or (resumed) every call of the unit, since which were pending
// then is not stored.
func orAll(pending, all []*batchCall, resumed bool) []*batchCall {
	if resumed {
		return all
	}
	return pending
}

// batchOutcome turns one result into an example or a failure, exactly as
// runRequest does for a single-step strategy.
func (g *generator) batchOutcome(u *plan.Unit, st *spec.Strategy, step *spec.Step, bc *batchCall, res *sdk.Result, cost float64) (*store.Example, *store.Failure) {
	fail := func(reason, raw string, final bool) (*store.Example, *store.Failure) {
		return nil, &store.Failure{Key: bc.key, Unit: u.Key, Teacher: u.Teacher, Language: u.Language, Strategy: u.Strategy, Seed: int(u.Seed), Reason: reason, Raw: raw, Attempts: 1, Final: final}
	}
	if res.Err != nil {
		return fail("call_error:"+res.Err.Code.String(), truncate(res.Err.Message+"\n"+res.Err.Raw, 8192), !res.Err.Code.Retryable())
	}
	out, f := strategy.ParseOutput(step, res, maxOutputChars)
	if f != nil {
		return fail(f.Reason, truncate(f.Raw, 65536), true)
	}
	prompt, response, err := strategy.Emit(st, bc.req, map[string]strategy.StepOutput{step.Name: out})
	if err != nil {
		return fail("emit_error", err.Error(), true)
	}
	model := res.Model
	if model == "" {
		model = g.r.P.Exp.Teacher(u.Teacher).Model
	}
	params, _ := json.Marshal(bc.call.Sampling)
	return &store.Example{Key: bc.key, Unit: u.Key, Teacher: u.Teacher, Model: model, Language: u.Language, Strategy: u.Strategy, Seed: int(u.Seed), SeedRowID: bc.req.Seed.ID, Idx: bc.req.Index,
		Prompt: prompt, Response: response, Params: params, InputTokens: int(res.Usage.InputTokens), OutputTokens: int(res.Usage.OutputTokens), Latency: res.Latency, CostUSD: cost}, nil
}

// commitAll queues every outcome for the group commit, then waits for all.
func (g *generator) commitAll(ctx context.Context, outs []commitReq) error {
	var err error
	for i := range outs {
		outs[i].done = make(chan error, 1)
		g.commits <- outs[i]
	}
	for _, o := range outs {
		err = errors.Join(err, <-o.done)
	}
	if err != nil {
		return &fatalError{err}
	}
	return nil
}

// batchDone checks that every request has a final outcome, like runUnit.
func (g *generator) batchDone(u *plan.Unit, reqs []strategy.Request, produced, failed int, batchID string) (any, error) {
	doneNow, err := g.r.Store.DoneRequests(u.Key)
	if err != nil {
		return nil, err
	}
	missing := 0
	for i := range reqs {
		if !doneNow[requestKey(u.Key, reqs[i].ID)] {
			missing++
		}
	}
	if missing > 0 {
		return nil, fmt.Errorf("%d of %d requests of batch %s failed temporarily (see `polyglot status`); run again to send them in a new batch", missing, len(reqs), batchID)
	}
	return map[string]any{"requests": len(reqs), "new_examples": produced, "new_failures": failed, "batch_id": batchID}, nil
}

// batchClient returns the teacher's plugin client and the open request
// that SubmitBatch and PollBatch carry (no stream is opened).
func (g *generator) batchClient(ctx context.Context, name string, ts *spec.Teacher) (sdk.TeacherOpen, *sdk.Client, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	comp := g.r.P.Bound.Teachers[name]
	if comp == nil {
		return sdk.TeacherOpen{}, nil, fmt.Errorf("teacher %q is not bound", name)
	}
	if comp.Running.Exited() {
		run, err := g.r.P.Plugins.Get(ctx, comp.Plugin)
		if err != nil {
			return sdk.TeacherOpen{}, nil, err
		}
		comp.Running = run
	}
	conc := max(apictl.FromSpec(ts.Limits).Concurrency, 1)
	return sdk.TeacherOpen{Component: comp.Name, Model: ts.Model, Config: comp.Config, Concurrency: conc}, comp.Running.Client, nil
}

// reserveBatch sets the batch's estimated cost aside in the teacher's and
// the experiment's budgets; a batch that does not fit is not sent.
func (g *generator) reserveBatch(name string, ts *spec.Teacher, est float64) ([]*apictl.Budget, error) {
	var budgets []*apictl.Budget
	if ts.Limits.BudgetUSD != nil {
		budgets = append(budgets, apictl.NewBudget("teacher "+name, *ts.Limits.BudgetUSD))
	}
	if g.budget != nil {
		budgets = append(budgets, g.budget)
	}
	for i, b := range budgets {
		if err := b.Reserve(est); err != nil {
			for _, r := range budgets[:i] {
				r.Settle(est, 0)
			}
			return nil, &fatalError{fmt.Errorf("teacher %q: the batch's estimated cost $%.4f does not fit (%w); nothing was sent. Raise budget_usd or lower examples_per_cell", name, est, err)}
		}
	}
	return budgets, nil
}

// pollBatch polls until the batch ends and returns its status ("done",
// "failed" or "expired") and results. Poll errors are retried; after
// maxPollErrors in a row the unit fails and keeps its batch id.
func (g *generator) pollBatch(ctx context.Context, u *plan.Unit, client *sdk.Client, open sdk.TeacherOpen, id string, interval time.Duration) (string, []*sdk.Result, error) {
	errs := 0
	for {
		status, results, diags, err := client.PollBatch(ctx, open, id)
		switch {
		case ctx.Err() != nil:
			return "", nil, ctx.Err()
		case err == nil && diags.HasErrors():
			err = diags.Err()
			fallthrough
		case err != nil:
			errs++
			g.r.log.Warn().Str("unit", u.Label).Str("batch", id).Err(err).Int("errors_in_a_row", errs).Msg("polling the batch failed")
			if errs >= maxPollErrors {
				return "", nil, fmt.Errorf("polling batch %s failed %d times in a row (last: %w); its id is saved, so the next run polls it again", id, errs, err)
			}
		default:
			errs = 0
			switch status {
			case "done", "failed", "expired":
				return status, results, nil
			case "running", "":
				g.r.log.Debug().Str("unit", u.Label).Str("batch", id).Msg("batch still running")
			default:
				return "", nil, fmt.Errorf("batch %s: the plugin reported unknown status %q (want running, done, failed or expired)", id, status)
			}
		}
		select {
		case <-ctx.Done():
			return "", nil, ctx.Err()
		case <-time.After(interval):
		}
	}
}
