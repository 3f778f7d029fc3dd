package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/polyglot-teachers/polyglot/core/apictl"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/core/strategy"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// Batch mode (a teacher block with batch = true) sends a unit's calls
// through the provider's batch API instead of one call per request.
//
// Chunks. A unit is split into chunks of at most the teacher's
// batch_max_requests calls and about 100 MB of request text (env
// POLYGLOT_BATCH_MAX_BYTES overrides the byte cap), since providers cap a
// batch: OpenAI 50,000 requests / 200 MB, Anthropic 100,000 / 256 MB.
// A chunk's calls are built only when it is about to be submitted
// (strategy.Expander), so memory follows the chunks in flight, not the
// unit. Up to min(concurrency, 8) chunks are at the provider at
// once: each is submitted, then all are polled.
//
// Resuming. Each chunk keeps its state in the store's KV table (namespace
// "batch", key = unit key + "/" + chunk number): the batch id, the
// chunk's round, which request indices the batch holds and, for each
// request past its first call, the step and ask it is at, the outputs of
// its earlier steps and what its earlier calls cost. It is written right
// after the provider accepts the batch, so a restarted run polls every
// batch it already paid for and builds new chunks only from requests that
// are neither done nor held by a stored chunk. The entry is removed once
// the chunk's outcomes are committed. The only window for a second
// submission is a crash between the provider accepting a batch and the KV
// write, which no client can close without provider-side idempotency.
//
// Response cache. Before a chunk is submitted every call is looked up in
// the response cache under the same key as the streaming path (cacheKey),
// so batch and streaming runs share answers. A cached answer that parses
// is committed without being sent and costs nothing (at a step before the
// last it moves its request on to the next step, whose call is looked up
// in turn); answers that parse
// are put into the cache when a batch returns. Unusable answers are not
// cached, so a re-ask never finds the answer it replaces.
//
// Re-asks. An unusable answer (strategy.ParseOutput's failures: parse
// error, missing field, empty, truncated, too long; or a JSON answer the
// plugin already found to hold no object) is asked again, up to
// the teacher's limits.reasks, with a new id and the same nudge message as
// runRequest, in a follow-up batch of the chunk; the round and the cost
// of earlier rounds are kept in the chunk's KV state, so a restart resumes
// the right round and the example's cost covers every round. Calls that
// failed with a retryable error, and calls a failed or expired batch left
// without a result, are recorded as non-final failures: the next run sends
// them in a new batch.
//
// Budgets. A chunk's estimated cost (input plus max_tokens at the
// teacher's price) is reserved before it is sent, since nothing can be
// stopped once the provider has it, and settled with the billed cost when
// it returns. A chunk that does not fit is not sent: chunks already at the
// provider are polled and committed, then the run stops with a message
// saying so. A chunk that would fit once the chunks in flight settle
// waits for them instead. A teacher's budget_usd is one budget per run,
// shared by all its batch units and chunks.
//
// Multi-step strategies. Every step must call the cell's own teacher
// (teacher unset, "self" or the cell's teacher): a batch goes to one
// provider. A chunk's round holds each pending request's next call: step
// 0 in the first batch; a request whose answer is usable moves on to the
// next step in the chunk's next batch (its call built by buildStepCall
// with the earlier steps' outputs, as runRequest builds it, so the cache
// keys agree), one whose answer is unusable is re-asked at the same step
// in that batch. Requests move independently rather than the whole chunk
// waiting for one step's re-asks: the same calls are sent, in fewer
// batches. The last step's usable answer is emitted and committed with
// the usage, cost and latency of all the request's calls. Outputs of
// finished steps live in the chunk's KV state (as JSON, numbers kept
// exact) until the request is committed, so a restart resumes each
// request at its step and ask and never pays for a finished step again. A
// request that fails at any step is recorded as a failure, as runRequest
// records it; a temporary one is sent again from step 0 by the next run.

const batchNS = "batch"

// batchPollEnv overrides the poll interval (a Go duration); tests use a
// few milliseconds, real batches take minutes to hours.
const batchPollEnv = "POLYGLOT_BATCH_POLL"

// batchMaxBytesEnv overrides batchMaxBytes (a byte count), for a provider
// with a smaller file limit, or a test.
const batchMaxBytesEnv = "POLYGLOT_BATCH_MAX_BYTES"

const (
	defaultBatchPoll = 30 * time.Second
	// maxPollErrors consecutive poll errors end the unit (failed, batch id
	// kept: the next run resumes polling).
	maxPollErrors = 8
	// batchMaxBytes is the approximate cap on one chunk's request text:
	// half of OpenAI's 200 MB input file limit, leaving room for the
	// JSON framing and escaping each provider adds per request.
	batchMaxBytes = 100 << 20
	// batchCallOverhead approximates a request's bytes beyond its texts
	// (ids, roles, sampling, the provider's JSON framing).
	batchCallOverhead = 256
	// maxBatchesInFlight bounds the chunks of one unit at the provider at
	// once (and so the calls held in memory).
	maxBatchesInFlight = 8
)

// reaskNudge is the message appended to re-ask number ask (1, 2, ...),
// by runRequest and by batch mode alike, so that their re-asks share cache
// keys. Each re-ask's text differs from the one before: identical messages
// would hit the same cache entry and make a deterministic server repeat
// the unusable answer.
func reaskNudge(ask int) string {
	if ask <= 1 {
		return "Your previous answer could not be used. Answer again, exactly in the requested format."
	}
	return "Your previous answers could not be used (attempt " + strconv.Itoa(ask+1) + "). Answer again, exactly in the requested format."
}

// batchState is what the store keeps of one chunk.
type batchState struct {
	// BatchID is the provider's id; "" means the round in Round is not
	// submitted yet (its re-asks were decided when the last run ended).
	BatchID   string    `json:"batch_id"`
	Teacher   string    `json:"teacher"`
	Calls     int       `json:"calls"`
	Submitted time.Time `json:"submitted"`
	Chunk     int       `json:"chunk"`
	// Round is 0 for first asks, r for the r-th re-ask.
	Round int `json:"round,omitempty"`
	// Members are the request indices the round holds, as half-open
	// ranges. A state without members (written before chunks existed)
	// holds the whole unit.
	Members []idxRange `json:"members,omitempty"`
	// Carry is what a request's earlier calls (earlier steps, unusable
	// answers) cost.
	Carry map[int]carried `json:"carry,omitempty"`
	// Pos is where the members whose call in this round is not ask Round
	// of step 0 stand (a member without an entry is at step 0, ask Round,
	// which is also how states written before multi-step read).
	Pos map[int]memberPos `json:"pos,omitempty"`
}

// memberPos is a request's place in a multi-step strategy.
type memberPos struct {
	Step int `json:"step,omitempty"`
	// Ask is 0 for a step's first ask, a for its a-th re-ask.
	Ask int `json:"ask,omitempty"`
	// Prior are the outputs of steps 0..Step-1.
	Prior priorOutputs `json:"prior,omitempty"`
}

// priorOutputs are a request's finished steps' outputs by step name.
type priorOutputs map[string]strategy.StepOutput

// UnmarshalJSON keeps numbers in json fields as json.Number, as
// strategy.ParseOutput made them: float64 would render 1e+21 or lose
// digits in the next step's prompt, changing it and its cache key.
func (p *priorOutputs) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]strategy.StepOutput
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*p = m
	return nil
}

// idxRange is the request indices [0] to [1]-1.
type idxRange [2]int

// carried is the usage of a request's earlier calls (earlier steps,
// unusable answers): Cost spent, Saved and Cached by the response cache.
type carried struct {
	In       int64         `json:"in,omitempty"`
	Out      int64         `json:"out,omitempty"`
	Cost     float64       `json:"cost,omitempty"`
	Saved    float64       `json:"saved,omitempty"`
	Cached   int           `json:"cached,omitempty"`
	Latency  time.Duration `json:"latency,omitempty"`
	Attempts int           `json:"attempts,omitempty"`
}

func (c carried) add(res *sdk.Result, cost float64, hit cacheUse) carried {
	c.In += res.Usage.InputTokens
	c.Out += res.Usage.OutputTokens
	c.Cost += cost
	if hit.cached {
		c.Saved += hit.saved
		c.Cached++
	}
	c.Latency += res.Latency
	c.Attempts++
	return c
}

// toRanges compresses ascending indices into ranges.
func toRanges(idx []int) []idxRange {
	var out []idxRange
	for _, i := range idx {
		if n := len(out); n > 0 && out[n-1][1] == i {
			out[n-1][1] = i + 1
			continue
		}
		out = append(out, idxRange{i, i + 1})
	}
	return out
}

func batchByteCap() (int, error) {
	s := os.Getenv(batchMaxBytesEnv)
	if s == "" {
		return batchMaxBytes, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive number of bytes (e.g. 52428800 for 50 MB)", batchMaxBytesEnv, s)
	}
	return n, nil
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

// batchCall is one request of a chunk with its call for the current round.
type batchCall struct {
	req   strategy.Request
	key   string    // request key in the store
	call  *sdk.Call // its Messages are dropped once the batch is submitted
	ckey  string    // response cache key; "" without a cache
	carry carried
	// step and ask are what call asks: step index, re-ask number.
	step, ask int
	prior     priorOutputs // outputs of steps 0..step-1
}

// pos is where bc stands, for the chunk's state.
func (bc *batchCall) pos() memberPos { return memberPos{Step: bc.step, Ask: bc.ask, Prior: bc.prior} }

// chunk is one provider batch of a unit and its re-ask rounds.
type chunk struct {
	key   string // KV key
	state batchState
	calls []*batchCall // the round's calls, requests already done left out
	// estimate is the cost reserved for the round's batch.
	estimate float64
}

// chunker cuts a stream of calls into chunks by count and bytes.
type chunker struct {
	maxReq, maxBytes int
	n, bytes         int
}

// fits reports whether a call of size bytes can join the current chunk;
// a chunk always takes its first call, however large.
func (c *chunker) fits(size int) bool {
	return c.n == 0 || (c.n < c.maxReq && c.bytes+size <= c.maxBytes)
}

func (c *chunker) add(size int) { c.n++; c.bytes += size }

func (c *chunker) reset() { c.n, c.bytes = 0, 0 }

// callBytes approximates a call's size in a provider's batch file.
func callBytes(c *sdk.Call) int {
	n := batchCallOverhead + len(c.Output.JSONSchema)
	for _, m := range c.Messages {
		n += len(m.Content) + len(m.Role)
	}
	return n
}

// batchRun is one unit in batch mode.
type batchRun struct {
	g        *generator
	u        *plan.Unit
	ts       *spec.Teacher
	st       *spec.Strategy
	lang     strategy.Language
	sampling sdk.Sampling
	open     sdk.TeacherOpen
	client   *sdk.Client
	interval time.Duration
	byteCap  int
	keyConn  *teacherConn // for cacheKey only (no stream); nil: no cache
	budgets  []*apictl.Budget
	done     map[string]bool // the unit's finished requests when it started

	mu       sync.Mutex
	produced int
	failed   int
	batches  []string
}

// runBatchUnit is runUnit for a teacher in batch mode.
func (g *generator) runBatchUnit(ctx context.Context, u *plan.Unit) (any, error) {
	ts := g.r.P.Exp.Teacher(u.Teacher)
	st := g.r.P.Exp.Strategy(u.Strategy)
	if ts == nil || st == nil {
		return nil, fmt.Errorf("batch mode: teacher %q or strategy %q is not in the spec", u.Teacher, u.Strategy)
	}
	if len(st.Steps) == 0 {
		return nil, fmt.Errorf("batch mode: strategy %q has no steps", u.Strategy)
	}
	for _, step := range st.Steps {
		if step.Teacher != "" && step.Teacher != "self" && step.Teacher != u.Teacher {
			return nil, fmt.Errorf("teacher %q has batch = true, but step %q of strategy %q calls teacher %q: a batch goes to one provider, so batch mode sends only the cell's own teacher's calls. Set teacher = \"self\" on step %q, or batch = false on teacher %q, or leave strategy %q out of this teacher's cells", u.Teacher, step.Name, u.Strategy, step.Teacher, step.Name, u.Teacher, u.Strategy)
		}
	}
	interval, err := batchPollInterval()
	if err != nil {
		return nil, &fatalError{err}
	}
	byteCap, err := batchByteCap()
	if err != nil {
		return nil, &fatalError{err}
	}
	in, err := g.unitInput(u, st)
	if err != nil {
		return nil, err
	}
	open, client, err := g.batchClient(ctx, u.Teacher, ts)
	if err != nil {
		return nil, err
	}
	b := &batchRun{g: g, u: u, ts: ts, st: st, lang: in.lang, sampling: resolveSampling(ts),
		open: open, client: client, interval: interval, byteCap: byteCap, done: in.done}
	if comp := g.r.P.Bound.Teachers[u.Teacher]; g.cache != nil && comp != nil && comp.Plugin != ControlPlugin {
		g.mu.Lock() // comp.Running is replaced under it when a plugin restarts
		ident := g.pluginIdentity(comp.Plugin, comp.Running)
		g.mu.Unlock()
		if ident != "" {
			b.keyConn = &teacherConn{name: u.Teacher, comp: comp, spec: ts, ident: ident}
		}
	}
	if err := g.budgetReadable(u.Teacher, ts.Limits.BudgetUSD != nil); err != nil {
		return nil, err
	}
	if ts.Limits.BudgetUSD != nil {
		b.budgets = append(b.budgets, g.batchTeacherBudget(u.Teacher, *ts.Limits.BudgetUSD))
	}
	if g.budget != nil {
		b.budgets = append(b.budgets, g.budget)
	}
	if err := b.run(ctx, in.reqs); err != nil {
		return nil, err
	}
	return b.finish(in.reqs.Fresh(), in.skipped)
}

// run resumes the unit's stored chunks, then submits new chunks for the
// requests no chunk holds, at most maxInflight at the provider at once.
func (b *batchRun) run(ctx context.Context, exp *strategy.Expander) error {
	stored, err := b.storedChunks()
	if err != nil {
		return err
	}
	n := exp.Len()
	covered := make([]bool, n)
	next := 0
	for _, ch := range stored {
		for _, r := range ch.state.Members {
			for i := max(r[0], 0); i < min(r[1], n); i++ {
				covered[i] = true
			}
		}
		next = max(next, ch.state.Chunk+1)
	}

	inflight := min(max(b.open.Concurrency, 1), maxBatchesInFlight)
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	setErr := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	// acquire takes a slot for a chunk; false when the unit is stopping.
	acquire := func() bool {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		errMu.Lock()
		stop := firstErr != nil || ctx.Err() != nil
		errMu.Unlock()
		if stop {
			<-sem
			return false
		}
		return true
	}
	// spawn runs a chunk in the slot acquire took.
	spawn := func(ch *chunk) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := b.runChunk(ctx, ch); err != nil {
				setErr(err)
			}
		}()
	}

	// Stored chunks first: they are paid for (or hold decided re-asks).
	stop := false
	for _, ch := range stored {
		if stop = !acquire(); stop {
			break
		}
		if err := b.buildStored(exp, ch); err != nil {
			<-sem
			setErr(err)
			stop = true
			break
		}
		if len(ch.calls) == 0 {
			// Everything it held is committed: only the entry was left.
			<-sem
			if err := b.g.r.Store.KVDelete(batchNS, ch.key); err != nil {
				setErr(err)
				stop = true
				break
			}
			continue
		}
		spawn(ch)
	}

	// New chunks, each built once a slot is free, so that the calls in
	// memory are those of the chunks in flight.
	cut := chunker{maxReq: b.ts.BatchMaxRequests, maxBytes: b.byteCap}
	if cut.maxReq <= 0 { // a Teacher not made by the spec loader
		cut.maxReq = spec.DefaultBatchMaxRequests
	}
	var held *batchCall // built, but did not fit the last chunk
	i := 0
	for !stop && (i < n || held != nil) {
		if stop = !acquire(); stop {
			break
		}
		ch := &chunk{key: b.u.Key + "/" + strconv.Itoa(next), state: batchState{Teacher: b.u.Teacher, Chunk: next}}
		var tmplFails []commitReq
		cut.reset()
		if held != nil {
			ch.calls = append(ch.calls, held)
			cut.add(callBytes(held.call))
			held = nil
		}
		var readErr error // a seed row that cannot be read
		for ; i < n && cut.n < cut.maxReq; i++ {
			if covered[i] {
				continue
			}
			req, err := exp.Request(i)
			if err != nil {
				readErr = &fatalError{err}
				break
			}
			key := requestKey(b.u.Key, req.ID)
			if b.done[key] {
				continue
			}
			bc := &batchCall{req: req, key: key}
			if err := b.build(bc); err != nil {
				tmplFails = append(tmplFails, commitReq{fail: b.failure(bc, "template_error", err.Error(), true)})
				continue
			}
			size := callBytes(bc.call)
			if !cut.fits(size) {
				held = bc
				i++
				break
			}
			cut.add(size)
			ch.calls = append(ch.calls, bc)
		}
		if err := cmp.Or(b.commit(ctx, tmplFails), readErr); err != nil {
			<-sem
			setErr(err)
			break
		}
		if len(ch.calls) == 0 {
			<-sem
			continue
		}
		spawn(ch)
		next++
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// storedChunks reads the unit's chunk states.
func (b *batchRun) storedChunks() ([]*chunk, error) {
	keys, err := b.g.r.Store.KVKeys(batchNS)
	if err != nil {
		return nil, err
	}
	var out []*chunk
	for _, k := range keys {
		legacy := k == b.u.Key
		if !legacy {
			num, ok := strings.CutPrefix(k, b.u.Key+"/")
			if !ok {
				continue
			}
			if _, err := strconv.Atoi(num); err != nil {
				continue
			}
		}
		ch := &chunk{key: k}
		if _, err := b.g.r.Store.KVGet(batchNS, k, &ch.state); err != nil {
			return nil, err
		}
		if len(ch.state.Members) == 0 {
			if !legacy {
				// Nothing to resume; a stale entry.
				if err := b.g.r.Store.KVDelete(batchNS, k); err != nil {
					return nil, err
				}
				continue
			}
			ch.state.Members = []idxRange{{0, b.u.N}}
		}
		out = append(out, ch)
	}
	return out, nil
}

// buildStored makes the calls of a stored chunk's round, leaving out the
// requests committed since (by an earlier run that died mid-chunk).
func (b *batchRun) buildStored(exp *strategy.Expander, ch *chunk) error {
	for _, r := range ch.state.Members {
		for i := max(r[0], 0); i < min(r[1], exp.Len()); i++ {
			req, err := exp.Request(i)
			if err != nil {
				return &fatalError{err}
			}
			bc := &batchCall{req: req, key: requestKey(b.u.Key, req.ID), carry: ch.state.Carry[i], ask: ch.state.Round}
			if p, ok := ch.state.Pos[i]; ok {
				bc.step, bc.ask, bc.prior = p.Step, p.Ask, p.Prior
			}
			if b.done[bc.key] {
				continue
			}
			if err := b.checkPos(bc); err != nil {
				return &fatalError{fmt.Errorf("batch state of chunk %d of unit %s: request %d: %w; the spec changed while the batch ran. Restore it, or delete the store's batch state", ch.state.Chunk, b.u.Label, i, err)}
			}
			if err := b.build(bc); err != nil {
				// It was built before: the templates changed under the batch.
				return &fatalError{fmt.Errorf("batch %s of unit %s: request %d can no longer be built (%w); the spec changed while the batch ran. Restore it, or delete the store's batch state", ch.state.BatchID, b.u.Label, i, err)}
			}
			ch.calls = append(ch.calls, bc)
		}
	}
	return nil
}

// batchCallID is a call's id in a batch: short, since providers bound
// custom_id (Anthropic: 64 characters of [A-Za-z0-9_-]), and stable
// across runs, so that a resumed batch maps back. Step 0's ids are those
// of the single-step format, so batches submitted before resume.
func batchCallID(index, step, ask int) string {
	id := "r" + strconv.Itoa(index)
	if step > 0 {
		id += "-s" + strconv.Itoa(step)
	}
	if ask > 0 {
		id += "-a" + strconv.Itoa(ask)
	}
	return id
}

// checkPos reports a stored position the strategy cannot have produced.
func (b *batchRun) checkPos(bc *batchCall) error {
	if bc.step < 0 || bc.step >= len(b.st.Steps) || bc.ask < 0 {
		return fmt.Errorf("it is at step %d, ask %d, but strategy %q has %d steps", bc.step, bc.ask, b.st.Name, len(b.st.Steps))
	}
	for _, s := range b.st.Steps[:bc.step] {
		if _, ok := bc.prior[s.Name]; !ok {
			return fmt.Errorf("it is at step %d but has no output of step %q", bc.step, s.Name)
		}
	}
	return nil
}

// build makes bc's call for its step and ask exactly as runRequest would
// (earlier steps' outputs in the templates, a re-ask adds the nudge), and
// its cache key.
func (b *batchRun) build(bc *batchCall) error {
	// Batch calls keep their metadata: a batch is submitted through
	// SubmitBatch, not a stream that could say the plugin ignores it.
	call, err := buildStepCall(b.u, b.st.Steps[bc.step], &bc.req, bc.prior, b.lang, bc.ask, false)
	if err != nil {
		return err
	}
	applySampling(call, b.sampling)
	call.ID = batchCallID(bc.req.Index, bc.step, bc.ask)
	bc.call = call
	if b.keyConn != nil {
		bc.ckey = cacheKey(b.keyConn, call, requestIdentity(&bc.req, b.st.Steps[bc.step]))
	}
	return nil
}

func (b *batchRun) failure(bc *batchCall, reason, raw string, final bool) *store.Failure {
	u := b.u
	return &store.Failure{Key: bc.key, Unit: u.Key, Teacher: u.Teacher, Language: u.Language, Strategy: u.Strategy, Seed: int(u.Seed),
		Reason: reason, Raw: raw, Attempts: bc.carry.Attempts + 1, Final: final}
}

// runChunk runs a chunk's rounds until no request of it has a call left.
func (b *batchRun) runChunk(ctx context.Context, ch *chunk) error {
	for {
		est := 0.0
		if ch.state.BatchID == "" {
			sent, err := b.submit(ctx, ch)
			if err != nil {
				return err
			}
			if !sent {
				return b.g.r.Store.KVDelete(batchNS, ch.key)
			}
			est = ch.estimate
		} else {
			b.g.r.log.Info().Str("unit", b.u.Label).Str("batch", ch.state.BatchID).Int("chunk", ch.state.Chunk).Int("round", ch.state.Round).Msg("resuming a submitted batch")
		}
		status, results, err := b.g.pollBatch(ctx, b.u, b.client, b.open, ch.state.BatchID, b.interval)
		if err != nil {
			// Whatever the batch costs is paid: keep the reservation spent.
			b.settle(est, est)
			return err
		}
		outs, next, spent := b.outcomes(ch, status, results)
		b.settle(est, spent)
		// Outcomes first: a crash before the state below is written polls
		// this round's batch again and skips what was committed.
		if err := b.commit(ctx, outs); err != nil {
			return err
		}
		if len(next) == 0 {
			return b.g.r.Store.KVDelete(batchNS, ch.key)
		}
		// The next round is decided: store it, with the outputs of the
		// steps just finished, before anything is sent, so that a restart
		// sends it rather than polling this round again.
		ch.state = roundState(b.u.Teacher, ch.state.Chunk, "", ch.state.Round+1, next)
		ch.calls = next
		if err := b.g.r.Store.KVPut(batchNS, ch.key, ch.state); err != nil {
			return &fatalError{err}
		}
		reasked := 0
		for _, bc := range next {
			if bc.ask > 0 {
				reasked++
			}
		}
		msg := "sending the next step in a new batch"
		if reasked > 0 {
			msg = "re-asking unusable answers in a new batch"
		}
		b.g.r.log.Info().Str("unit", b.u.Label).Int("chunk", ch.state.Chunk).Int("round", ch.state.Round).Int("calls", len(next)).Int("reasks", reasked).Int("next_step", len(next)-reasked).Msg(msg)
	}
}

// roundState is the KV state of a chunk's round of calls, submitted as
// batch id ("" when not yet sent).
func roundState(teacher string, chunkNum int, id string, round int, calls []*batchCall) batchState {
	st := batchState{BatchID: id, Teacher: teacher, Chunk: chunkNum, Round: round}
	if id != "" {
		st.Calls, st.Submitted = len(calls), time.Now().UTC()
	}
	idx := make([]int, len(calls))
	for i, bc := range calls {
		idx[i] = bc.req.Index
		if bc.carry != (carried{}) {
			if st.Carry == nil {
				st.Carry = map[int]carried{}
			}
			st.Carry[bc.req.Index] = bc.carry
		}
		if bc.step != 0 || bc.ask != round {
			if st.Pos == nil {
				st.Pos = map[int]memberPos{}
			}
			st.Pos[bc.req.Index] = bc.pos()
		}
	}
	// Ranges need ascending indices; a round's calls come in any order.
	slices.Sort(idx)
	st.Members = toRanges(idx)
	return st
}

// submit answers the round's calls from the response cache and sends the
// rest as one batch. sent is false when the cache answered all of them.
// A cached answer to a step that is not the last moves its request on to
// the next step, which is looked up in turn.
func (b *batchRun) submit(ctx context.Context, ch *chunk) (sent bool, err error) {
	var rest []*batchCall
	pending := ch.calls
	cached := 0
	for len(pending) > 0 {
		hits := b.cacheHits(pending)
		var outs []commitReq
		var moved []*batchCall
		for _, bc := range pending {
			h, ok := hits[bc]
			if !ok {
				rest = append(rest, bc)
				continue
			}
			cached++
			v := b.outcome(bc, h.res, 0, cacheUse{cached: true, saved: h.saved})
			if v.next {
				moved = append(moved, bc)
				continue
			}
			outs = append(outs, v.out)
		}
		// Answers from the cache are saved first: they stay saved whatever
		// happens to the batch.
		if err := b.commit(ctx, outs); err != nil {
			return false, err
		}
		pending = pending[:0:0]
		for _, bc := range moved {
			if fail := b.rebuild(bc); fail != nil {
				if err := b.commit(ctx, []commitReq{*fail}); err != nil {
					return false, err
				}
				continue
			}
			pending = append(pending, bc)
		}
	}
	if cached > 0 {
		b.g.r.log.Info().Str("unit", b.u.Label).Int("chunk", ch.state.Chunk).Int("cached", cached).Msg("answers taken from the response cache")
	}
	ch.calls = rest
	if len(rest) == 0 {
		return false, nil
	}

	ch.estimate = 0
	for _, bc := range rest {
		in := 0
		for _, m := range bc.call.Messages {
			in += len(m.Content) / 4
		}
		out := bc.call.Sampling.MaxTokens
		if out <= 0 {
			out = 1024
		}
		ch.estimate += apictl.EstimateCost(b.ts.Price, in, out)
	}
	if err := b.reserve(ctx, ch.estimate); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, &fatalError{fmt.Errorf("teacher %q: spending budget reached before batch chunk %d of %s could be sent (%w). Nothing more was sent; the batches already sent were polled and everything so far is saved. Raise budget_usd (or lower examples_per_cell) and run again to continue", b.u.Teacher, ch.state.Chunk, b.u.Label, err)}
	}
	calls := make([]*sdk.Call, len(rest))
	for i, bc := range rest {
		calls[i] = bc.call
	}
	id, diags, err := b.client.SubmitBatch(ctx, b.open, calls)
	if err == nil && diags.HasErrors() {
		err = diags.Err()
	} else if err != nil {
		err = b.g.r.P.Plugins.ExplainErr(b.g.r.P.Bound.Teachers[b.u.Teacher].Running, err)
	}
	if err == nil && id == "" {
		err = errors.New("the plugin accepted a batch but returned no batch id")
	}
	if err != nil {
		b.settle(ch.estimate, 0)
		return false, fmt.Errorf("teacher %q: submitting batch chunk %d (%d calls): %w", b.u.Teacher, ch.state.Chunk, len(calls), err)
	}
	ch.state = roundState(b.u.Teacher, ch.state.Chunk, id, ch.state.Round, rest)
	if err := b.g.r.Store.KVPut(batchNS, ch.key, ch.state); err != nil {
		// The batch runs at the provider but cannot be found again: say
		// which one, so it can be cancelled by hand.
		return false, &fatalError{fmt.Errorf("batch %s of teacher %q was submitted but its id could not be saved (%w); cancel it in the provider's console to avoid paying twice", id, b.u.Teacher, err)}
	}
	b.mu.Lock()
	b.batches = append(b.batches, id)
	b.mu.Unlock()
	// The texts were sent; only the sampling is needed from here on.
	for _, bc := range rest {
		bc.call.Messages = nil
	}
	b.g.r.log.Info().Str("unit", b.u.Label).Str("batch", id).Int("chunk", ch.state.Chunk).Int("round", ch.state.Round).Int("calls", len(calls)).Msg("batch submitted")
	return true, nil
}

// cacheHits looks the calls up in the response cache; only answers that
// parse for the call's step are used (an unusable cached answer is asked
// again).
func (b *batchRun) cacheHits(calls []*batchCall) map[*batchCall]batchHit {
	if b.keyConn == nil || len(calls) == 0 {
		return nil
	}
	blobs := make(map[string][]byte)
	if many, ok := b.g.cache.(cacheGetMany); ok {
		const group = 500
		for lo := 0; lo < len(calls); lo += group {
			hashes := make([]string, 0, group)
			for _, bc := range calls[lo:min(lo+group, len(calls))] {
				hashes = append(hashes, bc.ckey)
			}
			found, err := many.CacheGetMany(hashes)
			if err != nil {
				b.g.r.log.Debug().Err(err).Msg("response cache lookup failed; asking the teacher")
				continue
			}
			for h, v := range found {
				blobs[h] = v
			}
		}
	} else {
		for _, bc := range calls {
			if v, ok, err := b.g.cache.CacheGet(bc.ckey); ok && err == nil {
				blobs[bc.ckey] = v
			}
		}
	}
	hits := make(map[*batchCall]batchHit)
	for _, bc := range calls {
		blob, ok := blobs[bc.ckey]
		if !ok {
			continue
		}
		res, saved, ok := decodeCached(blob, bc.call.ID)
		if !ok {
			continue
		}
		if _, f := strategy.ParseOutput(b.st.Steps[bc.step], res, maxOutputChars); f != nil {
			continue
		}
		hits[bc] = batchHit{res, saved}
	}
	return hits
}

// batchHit is a cached answer and what it had cost.
type batchHit struct {
	res   *sdk.Result
	saved float64
}

// outcomes turns a round's results into commits and the next round's
// calls (next steps and re-asks, already built), and puts usable answers
// into the response cache.
func (b *batchRun) outcomes(ch *chunk, status string, results []*sdk.Result) (outs []commitReq, next []*batchCall, spent float64) {
	byID := make(map[string]*batchCall, len(ch.calls))
	for _, bc := range ch.calls {
		byID[bc.call.ID] = bc
	}
	seen := make(map[string]bool, len(results))
	for _, res := range results {
		bc := byID[res.ID]
		if bc == nil || seen[res.ID] {
			// A request committed before a restart, or a duplicate line.
			b.g.r.log.Debug().Str("batch", ch.state.BatchID).Str("id", res.ID).Msg("a batch result with no pending request; ignored")
			continue
		}
		seen[res.ID] = true
		cost := apictl.EstimateCost(b.ts.Price, int(res.Usage.InputTokens), int(res.Usage.OutputTokens))
		spent += cost
		ckey := bc.ckey
		v := b.outcome(bc, res, cost, cacheUse{})
		if v.usable && ckey != "" {
			b.g.cachePut(ckey, res, cost, true)
		}
		if !v.next {
			outs = append(outs, v.out)
			continue
		}
		if fail := b.rebuild(bc); fail != nil {
			outs = append(outs, *fail)
			continue
		}
		next = append(next, bc)
	}
	if status != "done" {
		// A failed or expired batch: what has no result ran nowhere and is
		// sent again by the next run.
		for _, bc := range ch.calls {
			if !seen[bc.call.ID] {
				outs = append(outs, commitReq{fail: b.failure(bc, "batch_"+status, "batch "+ch.state.BatchID+" ended "+status+" without a result for this request", false)})
			}
		}
	}
	return outs, next, spent
}

// rebuild makes the call for bc's new step or ask; a template that cannot
// be filled is the request's final failure, as in runRequest.
func (b *batchRun) rebuild(bc *batchCall) *commitReq {
	if err := b.build(bc); err != nil {
		return &commitReq{fail: b.failure(bc, "template_error", err.Error(), true)}
	}
	return nil
}

// verdict is what one answer means for its request.
type verdict struct {
	out commitReq // an example or a failure, unless next
	// next: the request has another call (its next step, or a re-ask of
	// this one); bc was moved there and its call must be rebuilt.
	next bool
	// usable: the answer parsed, so it is worth caching.
	usable bool
}

// outcome judges one answer as runRequest does at a step: a call error is
// a failure; an unusable answer is re-asked while the teacher's
// limits.reasks allow, else a failure; a usable answer moves the request
// on to its next step, or at the last step is emitted as an example that
// carries the usage of all the request's calls. cost is what res cost;
// hit says whether the response cache gave it.
func (b *batchRun) outcome(bc *batchCall, res *sdk.Result, cost float64, hit cacheUse) verdict {
	if res.Err != nil && res.Err.Code == sdk.ErrMalformedResponse && res.Text != "" {
		// The plugin found no JSON object in the model's answer. Streaming
		// retries that at once; in a batch it is an unusable answer like
		// ParseOutput's, re-asked in the next round or recorded as final.
		cp := *res
		cp.Err = nil
		res = &cp
	}
	if res.Err != nil {
		return verdict{out: commitReq{fail: b.failure(bc, "call_error:"+res.Err.Code.String(), truncate(res.Err.Message+"\n"+res.Err.Raw, 8192), !res.Err.Code.Retryable())}}
	}
	step := b.st.Steps[bc.step]
	out, f := strategy.ParseOutput(step, res, maxOutputChars)
	if f != nil {
		if bc.ask < b.ts.Limits.Reasks {
			bc.carry = bc.carry.add(res, cost, hit)
			bc.ask++
			return verdict{next: true}
		}
		return verdict{out: commitReq{fail: b.failure(bc, f.Reason, truncate(f.Raw, 65536), true)}}
	}
	if bc.step < len(b.st.Steps)-1 {
		bc.carry = bc.carry.add(res, cost, hit)
		prior := make(priorOutputs, len(bc.prior)+1)
		maps.Copy(prior, bc.prior)
		prior[step.Name] = out
		bc.prior, bc.step, bc.ask = prior, bc.step+1, 0
		return verdict{next: true, usable: true}
	}
	outputs := make(map[string]strategy.StepOutput, len(bc.prior)+1)
	maps.Copy(outputs, bc.prior)
	outputs[step.Name] = out
	prompt, response, err := strategy.Emit(b.st, &bc.req, outputs)
	if err != nil {
		return verdict{out: commitReq{fail: b.failure(bc, "emit_error", err.Error(), true)}, usable: true}
	}
	model := res.Model
	if model == "" {
		model = b.ts.Model
	}
	params, _ := json.Marshal(bc.call.Sampling)
	u := b.u
	return verdict{usable: true, out: commitReq{ex: &store.Example{Key: bc.key, Unit: u.Key, Teacher: u.Teacher, Model: model, Language: u.Language, Strategy: u.Strategy, Seed: int(u.Seed), SeedRowID: bc.req.Seed.ID, Idx: bc.req.Index,
		Prompt: prompt, Response: response, Params: params,
		InputTokens: int(res.Usage.InputTokens + bc.carry.In), OutputTokens: int(res.Usage.OutputTokens + bc.carry.Out),
		Latency: res.Latency + bc.carry.Latency, CostUSD: cost + bc.carry.Cost,
		SavedUSD: bc.carry.Saved + hit.saved, CachedCalls: bc.carry.Cached + boolInt(hit.cached)}}}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// commit writes outcomes through the group commit and advances progress.
func (b *batchRun) commit(ctx context.Context, outs []commitReq) error {
	if len(outs) == 0 {
		return nil
	}
	if err := b.g.commitAll(ctx, outs); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range outs {
		cost := 0.0
		switch {
		case o.ex != nil:
			cost = o.ex.CostUSD
			b.produced++
		case o.fail != nil && o.fail.Final:
			b.failed++
		}
		b.g.r.Opts.Progress.Advance(plan.Generate, 1, cost)
	}
	return nil
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

// finish checks that every request has a final outcome, like runUnit.
func (b *batchRun) finish(exp *strategy.Expander, skipped int) (any, error) {
	doneNow, err := b.g.r.Store.DoneRequests(b.u.Key)
	if err != nil {
		return nil, err
	}
	missing := 0
	for i := range exp.Len() {
		req, err := exp.Request(i)
		if err != nil {
			return nil, &fatalError{err}
		}
		if !doneNow[requestKey(b.u.Key, req.ID)] {
			missing++
		}
	}
	if missing > 0 {
		return nil, fmt.Errorf("%d of %d requests of batch %s failed temporarily (see `polyglot status`); run again to send them in a new batch", missing, exp.Len(), strings.Join(b.batches, ", "))
	}
	return map[string]any{"requests": exp.Len(), "new_examples": b.produced, "new_failures": b.failed, "batches": b.batches, "skipped_long_seeds": skipped}, nil
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

// batchBudgets holds each generator's per-teacher budgets for batch mode:
// one budget per teacher and run, shared by all its units and chunks. The
// generator is the streaming path's (generate.go), so the map lives here;
// the key holds the generator weakly and a cleanup drops the entry.
var batchBudgets sync.Map // batchBudgetKey → *apictl.Budget

type batchBudgetKey struct {
	g       weak.Pointer[generator]
	teacher string
}

func (g *generator) batchTeacherBudget(name string, capUSD float64) *apictl.Budget {
	k := batchBudgetKey{weak.Make(g), name}
	if v, ok := batchBudgets.Load(k); ok {
		return v.(*apictl.Budget)
	}
	nb := apictl.NewBudget("teacher "+name, capUSD)
	nb.Carry(g.spent[name])
	v, loaded := batchBudgets.LoadOrStore(k, nb)
	if !loaded {
		runtime.AddCleanup(g, func(k batchBudgetKey) { batchBudgets.Delete(k) }, k)
	}
	return v.(*apictl.Budget)
}

// reserve sets a chunk's estimated cost aside in every budget, or in
// none. When it does not fit only because other batches' reservations are
// open, it waits for them to settle (the billed cost is usually far below
// the estimate); it fails when even the settled spend leaves no room.
func (b *batchRun) reserve(ctx context.Context, est float64) error {
	for {
		err := b.tryReserve(est)
		if err == nil || !errors.Is(err, apictl.ErrBudgetExhausted) {
			return err
		}
		open := false
		for _, bu := range b.budgets {
			if bu.Spent()+est > bu.Cap()+1e-9 {
				return err
			}
			open = open || bu.Reserved() > 0
		}
		if !open {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(b.interval, time.Second)):
		}
	}
}

func (b *batchRun) tryReserve(est float64) error {
	for i, bu := range b.budgets {
		if err := bu.Reserve(est); err != nil {
			for _, r := range b.budgets[:i] {
				r.Settle(est, 0)
			}
			return err
		}
	}
	return nil
}

func (b *batchRun) settle(reserved, actual float64) {
	for _, bu := range b.budgets {
		bu.Settle(reserved, actual)
	}
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
