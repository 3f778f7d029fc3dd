package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyglot-teachers/polyglot/core/apictl"
	"github.com/polyglot-teachers/polyglot/core/bind"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/pluginhost"
	"github.com/polyglot-teachers/polyglot/core/seeds"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/core/strategy"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// generator runs the generate stage: it expands each (teacher, language,
// strategy) unit into requests, runs each request's steps through the
// teachers' streams under API control, and stores every outcome.
//
// Durability: a request holds one of its teacher's slots from its first
// call until its example (or final failure) is committed, so when the
// process dies the requests that must be sent again are at most the
// teacher's concurrency.
type generator struct {
	r      *Runner
	budget *apictl.Budget
	// spent is each teacher's spend recorded by earlier runs, carried into
	// the budgets so a cap holds across resumes; spentErr fails every
	// teacher that has a cap when it could not be read.
	spent    map[string]float64
	spentErr error

	mu    sync.Mutex
	conns map[string]*teacherConn

	commits  chan commitReq
	inflight atomic.Int64 // requests started and not yet committed (see commitLoop)
	wg       sync.WaitGroup

	cache     store.Cache
	cachePuts chan cachePut
	cacheGets chan cacheGet // nil when the cache cannot look up many at once
	cacheWG   sync.WaitGroup
}

type cachePut struct {
	hash string
	blob []byte
}

// cacheGetMany is a cache that looks many hashes up at once (both store
// caches are).
type cacheGetMany interface {
	CacheGetMany(hashes []string) (map[string][]byte, error)
}

type cacheGet struct {
	hash  string
	reply chan cacheHit
}

type cacheHit struct {
	blob []byte
	ok   bool
}

// lookupWait bounds how long a cache lookup waits for others to share its
// query (see lookupLoop).
const lookupWait = 2 * time.Millisecond

// putLoop writes the answers to the response cache, many per transaction:
// the cache is off the requests' path, so it waits up to cachePutDelay to
// fill a batch rather than paying a commit for every few answers.
func (g *generator) putLoop() {
	defer g.cacheWG.Done()
	for p := range g.cachePuts {
		if g.cache == nil {
			continue
		}
		group := gather(g.cachePuts, []cachePut{p}, cachePutBatch, cachePutDelay, func(int) bool { return true })
		batch := make([]store.CacheEntry, len(group))
		for i, q := range group {
			batch[i] = store.CacheEntry{Hash: q.hash, Value: q.blob}
		}
		if err := g.cache.CachePutMany(batch); err != nil {
			g.r.log.Debug().Err(err).Msg("response cache write failed (the store still has the result)")
		}
	}
}

// cachePutDelay and cachePutBatch bound a cache commit. Answers go to
// random places of the cache's index, so a commit rewrites an index page
// per few answers whatever its size: bigger commits share the pages
// (store.BenchmarkCacheFile: 23 µs per answer in groups of 1,024, 17 in
// groups of 4,096). A crash loses at most these answers from the cache,
// never from the store.
const (
	cachePutDelay = 250 * time.Millisecond
	cachePutBatch = 4096
)

// gather adds to group what ch holds already and then, while more(len)
// says others are on their way, what arrives within wait, up to max items
// in all: the loops below pay about as much for a group as for one item.
// It stops early when ch is closed.
func gather[T any](ch <-chan T, group []T, max int, wait time.Duration, more func(n int) bool) []T {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for len(group) < max {
		select {
		case v, ok := <-ch:
			if !ok {
				return group
			}
			group = append(group, v)
			continue
		default:
		}
		if !more(len(group)) {
			return group
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case v, ok := <-ch:
			if !ok {
				return group
			}
			group = append(group, v)
		case <-timer.C:
			return group
		}
	}
	return group
}

// pace estimates the rate at which the lookup loop's items arrive, from the
// groups it took and the time between them, so that it waits for others only
// when many are likely to come within the wait. When answers trickle in (a
// teacher with 100 ms latency), waiting 2 ms for a lookup group gathered one
// or two more lookups and delayed every request by the wait. The commit loop
// keeps its 1 ms wait: without it every outcome paid a commit of its own,
// and at load ~30 the path fell behind the old binary in all three rounds.
type pace struct {
	last   time.Time
	perSec float64 // moving average
}

// busyRate is the arrival rate (items per second) from which the lookup
// loop waits for others: 4 or more per 2 ms wait. A teacher with 100 ms
// latency at 128 requests in flight brings ~1.3 per millisecond; without
// latency, several per millisecond come.
const busyRate = 2000

func (p *pace) observe(n int, now time.Time) {
	if !p.last.IsZero() {
		if dt := now.Sub(p.last).Seconds(); dt > 0 {
			p.perSec += (float64(n)/dt - p.perSec) / 4
		}
	}
	p.last = now
}

// busy reports whether items come fast enough that a wait gathers many.
func (p *pace) busy() bool { return p.perSec >= busyRate }

// lookupLoop answers the cache lookups waiting with one query: a lookup
// each cost mostly the start of a read transaction.
func (g *generator) lookupLoop(many cacheGetMany) {
	defer g.cacheWG.Done()
	var p pace
	for first := range g.cacheGets {
		// While many requests are in flight, more lookups are on their
		// way: wait a little for them. A query per lookup or two cost three
		// times as much per lookup as a group of dozens; a request alone is
		// never held.
		group := gather(g.cacheGets, []cacheGet{first}, 256, lookupWait, func(n int) bool {
			return int64(n)*2 < g.inflight.Load() && p.busy()
		})
		p.observe(len(group), time.Now())
		hashes := make([]string, len(group))
		for i, q := range group {
			hashes[i] = q.hash
		}
		found, err := many.CacheGetMany(hashes)
		if err != nil {
			g.r.log.Debug().Err(err).Msg("response cache lookup failed; asking the teacher")
		}
		for _, q := range group {
			b, ok := found[q.hash]
			q.reply <- cacheHit{b, ok}
		}
	}
}

// cachedAnswer is what the response cache holds for a call: the answer
// with its usage, and what it cost when it was paid for.
type cachedAnswer struct {
	sdk.Result
	CostUSD float64 `json:"cost_usd"`
}

// cachePut queues an answer that cost costUSD for the response cache.
// Streaming calls do not wait (wait = false): when the cache's writer is
// behind, the answer is not cached rather than a request slowed. Batch
// results, thousands at once off any request's path, wait for room so
// none is dropped.
func (g *generator) cachePut(key string, res *sdk.Result, costUSD float64, wait bool) {
	blob, err := json.Marshal(cachedAnswer{Result: *res, CostUSD: costUSD})
	if err != nil {
		return
	}
	if wait {
		g.cachePuts <- cachePut{key, blob}
		return
	}
	select {
	case g.cachePuts <- cachePut{key, blob}:
	default:
	}
}

// decodeCached turns a cached answer into the result of call id. It keeps
// the answer's usage; saved is what it cost when it was paid for (nothing
// is spent on it now).
func decodeCached(blob []byte, id string) (res *sdk.Result, saved float64, ok bool) {
	var a cachedAnswer
	if json.Unmarshal(blob, &a) != nil || a.Err != nil {
		return nil, 0, false
	}
	a.ID = id
	return &a.Result, a.CostUSD, true
}

// cacheUse tells a caller of generator.call that the response cache
// answered, and what that answer had cost.
type cacheUse struct {
	cached bool
	saved  float64
}

// requestIdentity names the call of a request's step for the response
// cache: the request's ID holds its index and a digest of its seed, seed
// row and examples, so distinct requests never share an answer (a seed
// prompt asked three times at temperature 1 gets three answers) while the
// same request on a rerun finds its own.
func requestIdentity(req *strategy.Request, step *spec.Step) string {
	return req.ID + "/" + step.Name
}

// buildStepCall makes the call of one step for a request, as streaming and
// batch mode both send it: tagged with the seed prompt and cell (which
// replay teachers need) unless bare (the teacher never reads metadata), and
// for re-ask number ask > 0 with a nudge, so that neither the cache nor a
// deterministic server repeats the unusable answer. Callers set the call's id.
func buildStepCall(u *plan.Unit, step *spec.Step, req *strategy.Request, prior map[string]strategy.StepOutput, lang strategy.Language, ask int, bare bool) (*sdk.Call, error) {
	if bare {
		call, err := strategy.BuildBareCall(step, req, prior, lang)
		if err == nil && ask > 0 {
			call.Messages = append(call.Messages, sdk.Message{Role: "user", Content: reaskNudge(ask)})
		}
		return call, err
	}
	call, err := strategy.BuildCall(step, req, prior, lang)
	if err != nil {
		return nil, err
	}
	call.Metadata["seed_prompt"] = req.Seed.Prompt
	call.Metadata["cell"] = u.Teacher + "/" + u.Language
	if ask > 0 {
		call.Messages = append(call.Messages, sdk.Message{Role: "user", Content: reaskNudge(ask)})
	}
	return call, nil
}

// cacheLookup returns the cached answer blob for a cache key.
func (g *generator) cacheLookup(hash string) ([]byte, bool) {
	if g.cacheGets == nil {
		b, ok, err := g.cache.CacheGet(hash)
		return b, ok && err == nil
	}
	reply := make(chan cacheHit, 1)
	g.cacheGets <- cacheGet{hash, reply}
	h := <-reply
	return h.blob, h.ok
}

type commitReq struct {
	ex   *store.Example
	fail *store.Failure
	done chan error
}

func newGenerator(r *Runner) *generator {
	g := &generator{r: r, conns: map[string]*teacherConn{}, commits: make(chan commitReq, 1024)}
	g.spent, g.spentErr = r.Store.SpentUSD()
	if b := r.P.Exp.BudgetUSD; b != nil {
		g.budget = apictl.NewBudget("experiment", *b)
		for _, usd := range g.spent {
			g.budget.Carry(usd)
		}
	}
	g.wg.Add(1)
	go g.commitLoop()
	g.cache = r.Opts.Cache
	if g.cache == nil && !r.Opts.NoCache {
		g.cache = r.Store
	}
	g.cachePuts = make(chan cachePut, 2*cachePutBatch)
	g.cacheWG.Add(1)
	go g.putLoop()
	if many, ok := g.cache.(cacheGetMany); ok {
		g.cacheGets = make(chan cacheGet, 1024)
		g.cacheWG.Add(1)
		go g.lookupLoop(many)
	}
	return g
}

// cacheKey hashes everything that determines a teacher's answer: the
// plugin's identity (c.ident: its name, version and binary checksum, so a
// rebuilt plugin never gets its predecessor's answers), the component and
// its (redacted) config, the model, the request the call belongs to
// (reqID, see requestIdentity; "" for calls that are not a request's,
// such as a judge's), and the call without its id and metadata. Two
// experiments asking the same thing of the same plugin build share the
// answer. The fields are hashed directly, each length-prefixed so that no
// two calls give the same bytes: marshalling the call to JSON first cost
// more than the rest of the lookup.
func cacheKey(c *teacherConn, call *sdk.Call, reqID string) string {
	c.keyOnce.Do(func() {
		b := append([]byte(nil), "polyglot response cache v3\x00"...)
		for _, f := range []string{c.ident, c.comp.Plugin, c.comp.Name, modelOf(c), string(plan.CtyJSON(c.comp.Redacted))} {
			b = appendKeyString(b, f)
		}
		c.keyPrefix = b
	})
	n := len(c.keyPrefix) + 64 + len(reqID)
	for _, m := range call.Messages {
		n += len(m.Role) + len(m.Content) + 2*binary.MaxVarintLen64
	}
	for _, st := range call.Sampling.Stop {
		n += len(st) + binary.MaxVarintLen64
	}
	n += len(call.Output.JSONSchema)
	b := make([]byte, 0, n)
	b = append(b, c.keyPrefix...)
	b = appendKeyString(b, reqID)
	b = binary.AppendUvarint(b, uint64(len(call.Messages)))
	for _, m := range call.Messages {
		b = appendKeyString(b, m.Role)
		b = appendKeyString(b, m.Content)
	}
	sm := &call.Sampling
	b = appendKeyFloat(b, sm.Temperature)
	b = appendKeyFloat(b, sm.TopP)
	if sm.TopK != nil {
		b = binary.AppendVarint(append(b, 1), int64(*sm.TopK))
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, int64(sm.MaxTokens))
	if sm.Seed != nil {
		b = binary.AppendVarint(append(b, 1), *sm.Seed)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(sm.Stop)))
	for _, st := range sm.Stop {
		b = appendKeyString(b, st)
	}
	if call.Output.JSON {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendKeyString(b, call.Output.JSONSchema)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func appendKeyString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendKeyFloat(b []byte, f *float64) []byte {
	if f == nil {
		return append(b, 0)
	}
	return binary.LittleEndian.AppendUint64(append(b, 1), math.Float64bits(*f))
}

func modelOf(c *teacherConn) string {
	if c.spec != nil {
		return c.spec.Model
	}
	return ""
}

// cacheable: replayed data costs nothing and would only fill the cache;
// a plugin whose identity is unknown could be any build.
func cacheable(c *teacherConn) bool {
	return c.comp.Plugin != ControlPlugin && c.ident != "" && !c.identChanged.Load()
}

// pluginIdentity is what tells one build of a plugin from another: its
// name, version and the SHA-256 of its binary. "" when the binary cannot
// be read (its answers are then not cached).
func (g *generator) pluginIdentity(plugin string, run *pluginhost.Running) string {
	if run == nil || run.Info == nil {
		return ""
	}
	sum, err := run.Checksum()
	if err != nil {
		g.r.log.Warn().Err(err).Str("plugin", plugin).Msg("cannot checksum the plugin's binary; its answers are not cached")
		return ""
	}
	var b []byte
	for _, f := range []string{run.Info.Name, run.Info.Version, sum} {
		b = appendKeyString(b, f)
	}
	return string(b)
}

// commitLoop is a group commit: it takes every outcome waiting, writes
// them in one transaction, then tells all their requests at once. While
// other requests are still in flight it waits up to commitWait for them to
// join: a transaction costs about the same for one row as for dozens, and
// at high rates one per outcome or two was most of the host's CPU. When
// every request in flight is already in the group it commits at once, so
// a slow teacher's outcomes are never held back.
func (g *generator) commitLoop() {
	defer g.wg.Done()
	for first := range g.commits {
		group := gather(g.commits, []commitReq{first}, 4096, commitWait, func(n int) bool { return int64(n) < g.inflight.Load() })
		var err error
		for _, c := range group {
			if c.ex != nil {
				err = errors.Join(err, g.r.writer.Example(c.ex))
			} else if c.fail != nil {
				err = errors.Join(err, g.r.writer.Failure(c.fail))
			}
		}
		if err == nil {
			err = g.r.writer.Flush()
		}
		for _, c := range group {
			c.done <- err
		}
	}
}

// commitWait bounds how long an outcome waits for others to share its
// transaction.
const commitWait = time.Millisecond

func (g *generator) commit(ctx context.Context, ex *store.Example, fail *store.Failure) error {
	done := make(chan error, 1)
	g.commits <- commitReq{ex: ex, fail: fail, done: done}
	if err := <-done; err != nil {
		return &fatalError{err}
	}
	return nil
}

func (g *generator) close() {
	g.mu.Lock()
	for _, c := range g.conns {
		c.close()
	}
	g.mu.Unlock()
	close(g.commits)
	g.wg.Wait()
	close(g.cachePuts)
	if g.cacheGets != nil {
		close(g.cacheGets)
	}
	g.cacheWG.Wait()
}

// teacherConn is a teacher's connection to its plugin: the teacher's API
// control and its open Generate stream. When the plugin process dies the
// stream is opened again on a new process and the calls it lost are sent
// again: they hold their permits meanwhile, and count as no failure of the
// provider.
type teacherConn struct {
	g        *generator
	name     string
	comp     *bind.Component
	spec     *spec.Teacher
	ctl      *apictl.Controller
	slots    chan struct{}
	price    spec.Price
	sampling sdk.Sampling
	open     sdk.TeacherOpen
	// bare: the plugin said it never reads calls' metadata.
	bare atomic.Bool

	paramsMu   sync.Mutex
	lastSample sdk.Sampling    // a copy of the sampling lastParams encodes
	lastParams json.RawMessage // shared by examples: never changed once made

	ident string // the plugin build's identity (pluginIdentity); "": not cached
	// identChanged: the plugin was restarted from another build during
	// the run; its answers are no longer cached (the key names ident).
	identChanged atomic.Bool
	keyOnce      sync.Once
	keyPrefix    []byte // the cache key's hash input for this teacher (see cacheKey)

	noteMu    sync.Mutex
	noteAt    time.Time // when a failure was last logged (noteFailure)
	noteSince int       // failures since
	stopOnce  sync.Once // logs the teacher's stop (noteStop)
	saveMu    sync.Mutex
	savedStop bool // the stop is the saved last error (saveTeacherError)

	mu   sync.Mutex // held while the stream is (re)opened
	run  *pluginhost.Running
	cur  *teacherStream
	dead error // the plugin cannot be used any more: every call fails with it
	// losses counts the streams lost since the last answer: a plugin that
	// dies on every call is given up after maxStreamLosses.
	losses atomic.Int32
	resent atomic.Int64 // calls sent again after their stream was lost
}

// maxStreamLosses is how many times in a row a teacher's stream may be
// lost (its plugin died) without an answer in between before the plugin is
// given up for the run.
const maxStreamLosses = 4

// teacherStream is one open Generate stream of a teacherConn.
type teacherStream struct {
	c       *teacherConn
	run     *pluginhost.Running
	stream  *sdk.TeacherStream
	cancel  context.CancelFunc
	mu      sync.Mutex
	pending map[string]pendingCall
	broken  error
	died    bool // broken because the plugin process died
	outbox  chan *sdk.Call
	done    chan struct{} // closed with the stream: stops expireLoop
}

// pendingCall is a call sent on the stream and not answered yet. A nil
// result on ch means the stream was lost before the answer came.
type pendingCall struct {
	ch       chan *sdk.Result
	deadline time.Time // zero: none
}

func (g *generator) conn(ctx context.Context, name string) (*teacherConn, error) {
	g.mu.Lock()
	c, ok := g.conns[name]
	if !ok {
		var err error
		if c, err = g.newConn(name); err != nil {
			g.mu.Unlock()
			return nil, err
		}
		g.conns[name] = c
	}
	g.mu.Unlock()
	if _, err := c.stream(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// budgetReadable refuses to send for a teacher under a cap (its own or the
// experiment's) when what earlier runs spent could not be read: the cap
// would silently start from zero.
func (g *generator) budgetReadable(name string, ownCap bool) error {
	if g.spentErr != nil && (ownCap || g.budget != nil) {
		return fmt.Errorf("teacher %q: reading what earlier runs spent against budget_usd: %w", name, g.spentErr)
	}
	return nil
}

func (g *generator) newConn(name string) (*teacherConn, error) {
	comp := g.r.P.Bound.Teachers[name]
	if comp == nil {
		return nil, fmt.Errorf("teacher %q is not bound", name)
	}
	ts := g.r.P.Exp.Teacher(name)
	lim := apictl.Limits{Concurrency: 64}
	var budgets []*apictl.Budget
	c := &teacherConn{g: g, name: name, comp: comp, spec: ts, run: comp.Running}
	model := ""
	if ts != nil {
		lim = apictl.FromSpec(ts.Limits)
		c.price = ts.Price
		c.sampling = resolveSampling(ts)
		model = ts.Model
		if err := g.budgetReadable(name, ts.Limits.BudgetUSD != nil); err != nil {
			return nil, err
		}
		if ts.Limits.BudgetUSD != nil {
			b := apictl.NewBudget("teacher "+name, *ts.Limits.BudgetUSD)
			b.Carry(g.spent[name])
			budgets = append(budgets, b)
		}
	}
	if g.budget != nil {
		budgets = append(budgets, g.budget)
	}
	c.ctl = apictl.New(name, lim, budgets...)
	conc := max(lim.Concurrency, 1)
	c.slots = make(chan struct{}, conc)
	c.open = sdk.TeacherOpen{Component: comp.Name, Model: model, Config: comp.Config, Concurrency: conc}
	c.ident = g.pluginIdentity(comp.Plugin, comp.Running)
	return c, nil
}

// stream returns the open stream, opening it first if there is none or it
// was lost: on the plugin's new process when the old one died.
func (c *teacherConn) stream(ctx context.Context) (*teacherStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.err() == nil {
		return c.cur, nil
	}
	var why error
	died := false
	if c.cur != nil {
		why, died = c.cur.lost()
		c.cur.cancel() // ends its send loop and the call on the dead connection
		c.cur.close()
		c.cur = nil
	}
	mgr := c.g.r.P.Plugins
	for {
		if c.dead != nil {
			return nil, c.dead
		}
		if why != nil {
			n := c.losses.Add(1)
			if n > maxStreamLosses {
				c.dead = fmt.Errorf("teacher %q: plugin %q (%s) died %d times in a row without answering a call, so it is not used again in this run; the last time: %w", c.name, c.run.Name, c.run.Path, n, why)
				return nil, c.dead
			}
			var err error
			if died {
				c.run, err = mgr.Restart(ctx, c.run, why)
			} else {
				c.run, err = mgr.Live(ctx, c.run)
			}
			if err != nil {
				if ctx.Err() == nil {
					c.dead = fmt.Errorf("teacher %q: %w", c.name, err)
				}
				return nil, err
			}
		} else if c.run.Exited() {
			run, err := mgr.Live(ctx, c.run)
			if err != nil {
				return nil, err
			}
			c.run = run
		}
		if c.run != c.comp.Running && c.ident != "" && c.g.pluginIdentity(c.comp.Plugin, c.run) != c.ident {
			c.identChanged.Store(true)
		}
		s, err := c.openStream(ctx)
		if err == nil {
			c.cur = s
			return s, nil
		}
		if !mgr.Died(c.run, err) || ctx.Err() != nil {
			return nil, err
		}
		why, died = err, true // it died while the stream was opened
	}
}

// openStream opens a Generate stream on c.run, bounded by the plugin call
// timeout: a plugin that hangs in its open call is given up.
func (c *teacherConn) openStream(ctx context.Context) (*teacherStream, error) {
	mgr := c.g.r.P.Plugins
	run := c.run
	// The stream outlives this unit: it is closed with the generator.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	timeout := mgr.CallTimeoutOrDefault()
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() { timedOut.Store(true); cancel() })
	stream, diags, err := run.Client.OpenTeacher(sctx, c.open)
	timer.Stop()
	if timedOut.Load() {
		cancel()
		c.dead = fmt.Errorf("teacher %q: plugin %q (%s) did not answer its open call within %s (the plugin call timeout; raise it with --plugin-call-timeout)", c.name, run.Name, run.Path, timeout)
		return nil, c.dead
	}
	if err != nil {
		cancel()
		return nil, mgr.ExplainErr(run, err)
	}
	if diags.HasErrors() {
		cancel()
		return nil, fmt.Errorf("teacher %q: %w", c.name, diags.Err())
	}
	c.bare.Store(stream.IgnoresMetadata())
	s := &teacherStream{c: c, run: run, stream: stream, cancel: cancel, pending: map[string]pendingCall{}, outbox: make(chan *sdk.Call, 4096), done: make(chan struct{})}
	go s.recvLoop()
	go s.sendLoop()
	go s.expireLoop()
	return s, nil
}

func (s *teacherStream) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

func (s *teacherStream) lost() (error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken, s.died
}

// fail marks the stream lost (err from it, raw as the stream said it) and
// hands every call waiting on it back to its sender, to be sent again on
// the next stream.
func (s *teacherStream) fail(err, raw error) {
	died := s.c.g.r.P.Plugins.Died(s.run, raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.died = s.died || died
	if s.broken != nil {
		return
	}
	s.broken = err
	for id, p := range s.pending {
		p.ch <- nil
		delete(s.pending, id)
	}
}

func (s *teacherStream) recvLoop() {
	for {
		rs, err := s.stream.Recv()
		if err != nil {
			if err == io.EOF {
				err = errors.New("stream closed")
			}
			s.fail(s.c.g.r.P.Plugins.ExplainErr(s.run, err), err)
			return
		}
		s.c.losses.Store(0)
		s.mu.Lock()
		for _, r := range rs {
			if p, ok := s.pending[r.ID]; ok {
				p.ch <- r
				delete(s.pending, r.ID)
			}
		}
		s.mu.Unlock()
	}
}

// sendLoop coalesces the calls that are ready into one stream message: at
// high request rates this turns thousands of small sends into a few large ones.
func (s *teacherStream) sendLoop() {
	batch := make([]*sdk.Call, 0, 256)
	for {
		var call *sdk.Call
		select {
		case call = <-s.outbox:
		case <-s.done:
			_ = s.stream.CloseSend()
			return
		}
		batch = gather(s.outbox, append(batch[:0], call), cap(batch), 0, func(int) bool { return false })
		if s.err() != nil {
			continue // lost: its calls were handed back
		}
		if err := s.stream.Send(batch); err != nil {
			s.fail(err, err)
		}
	}
}

// close ends the stream's loops. Calls are never refused by closing the
// outbox: a sender may still hold a stream that was lost meanwhile.
func (s *teacherStream) close() { close(s.done) }

func (c *teacherConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		c.cur.close()
		c.cur = nil
	}
	c.dead = errors.New("the run is over")
}

// send makes one attempt of a call and waits for its answer until deadline
// (zero: no deadline). The wait is not cancelled with the run: a call that
// was sent is paid for, so a stopping run (Ctrl-C) waits for its answer and
// saves it rather than sending it again on the next run. A call whose
// stream is lost (the plugin died) is sent again on the next one; an error
// means the plugin cannot be used any more.
func (c *teacherConn) send(ctx context.Context, deadline time.Time, call *sdk.Call) (*sdk.Result, error) {
	for {
		s, err := c.stream(ctx)
		if err != nil {
			return nil, err
		}
		if res := s.send(deadline, call); res != nil {
			return res, nil
		}
		c.resent.Add(1)
	}
}

// send sends call on this stream; nil means the stream was lost first.
func (s *teacherStream) send(deadline time.Time, call *sdk.Call) *sdk.Result {
	ch := make(chan *sdk.Result, 1)
	s.mu.Lock()
	if s.broken != nil {
		s.mu.Unlock()
		return nil
	}
	s.pending[call.ID] = pendingCall{ch, deadline}
	s.mu.Unlock()
	select {
	case s.outbox <- call:
	case <-s.done: // lost and closed: fail handed the call back on ch
	}
	return <-ch
}

// expireLoop answers the calls whose deadline passed with a timeout. One
// ticker per stream rather than a timer (and a context) per call: at high
// request rates those were a visible share of the host's CPU per call.
func (s *teacherStream) expireLoop() {
	t := time.NewTicker(expireEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := time.Now()
		s.mu.Lock()
		if s.broken != nil { // every pending call was handed back
			s.mu.Unlock()
			return
		}
		for id, p := range s.pending {
			if !p.deadline.IsZero() && now.After(p.deadline) {
				p.ch <- &sdk.Result{ID: id, Err: &sdk.CallError{Code: sdk.ErrTimeout, Message: "no answer in time: " + context.DeadlineExceeded.Error()}}
				delete(s.pending, id)
			}
		}
		s.mu.Unlock()
	}
}

// expireEvery is how late, at most, a call's timeout is noticed.
const expireEvery = 50 * time.Millisecond

// params is the sampling as the JSON stored with each example. A teacher's
// requests almost always send the same sampling, so the last encoding is
// kept: encoding it per example was a visible share of a request's CPU.
func (c *teacherConn) params(s sdk.Sampling) json.RawMessage {
	c.paramsMu.Lock()
	defer c.paramsMu.Unlock()
	if c.lastParams != nil && sameSampling(c.lastSample, s) {
		return c.lastParams
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	c.lastSample, c.lastParams = copySampling(s), b
	return b
}

func sameSampling(a, b sdk.Sampling) bool {
	return samePtr(a.Temperature, b.Temperature) && samePtr(a.TopP, b.TopP) && samePtr(a.TopK, b.TopK) &&
		a.MaxTokens == b.MaxTokens && samePtr(a.Seed, b.Seed) && slices.Equal(a.Stop, b.Stop)
}

func samePtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// copySampling copies what s points to, so a later change to a caller's
// value cannot make the kept encoding stale.
func copySampling(s sdk.Sampling) sdk.Sampling {
	s.Temperature, s.TopP, s.TopK, s.Seed = copyPtr(s.Temperature), copyPtr(s.TopP), copyPtr(s.TopK), copyPtr(s.Seed)
	s.Stop = slices.Clone(s.Stop)
	return s
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func (c *teacherConn) cost(u sdk.Usage) float64 {
	return apictl.EstimateCost(c.price, int(u.InputTokens), int(u.OutputTokens))
}

// call sends a call to a teacher with retries, rate limits and budgets;
// the result's error is set when every attempt failed. A returned error is
// fatal for the run (budget exhausted, cancelled).
//
// The response cache is asked first, under the call's key for request
// reqID (see cacheKey); when it answers, *hit (if non-nil) says so. A
// successful answer goes into the cache, unless put is non-nil: then *put
// is set to the function that caches it, for the caller to run once the
// answer proved usable (an unusable answer, cached, would come back to
// every re-ask of the same request).
func (g *generator) call(ctx context.Context, teacher string, call *sdk.Call, reqID string, attempts *int, put *func(), hit *cacheUse) (*sdk.Result, error) {
	c, err := g.conn(ctx, teacher)
	if err != nil {
		return nil, err
	}
	applySampling(call, c.sampling)
	estIn := 0
	for _, m := range call.Messages {
		estIn += len(m.Content) / 4
	}
	var ckey string
	if g.cache != nil && cacheable(c) {
		ckey = cacheKey(c, call, reqID)
		if blob, ok := g.cacheLookup(ckey); ok {
			if res, saved, ok := decodeCached(blob, call.ID); ok {
				if hit != nil {
					*hit = cacheUse{cached: true, saved: saved}
				}
				return res, nil
			}
		}
	}
	estOut := call.Sampling.MaxTokens
	if estOut <= 0 {
		estOut = 1024
	}
	permit, err := c.ctl.Acquire(ctx, estIn+estOut, apictl.EstimateCost(c.price, estIn, estOut))
	for {
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, apictl.ErrBudgetExhausted) {
				return nil, &fatalError{fmt.Errorf("spending budget reached (%w); everything so far is saved. Raise budget_usd to continue", err)}
			}
			var stop *apictl.StoppedError
			if errors.As(err, &stop) {
				// The teacher's units end with the stop's error; this
				// request has no outcome and runs again next time.
				g.noteStop(c, stop)
				return nil, err
			}
			return &sdk.Result{ID: call.ID, Err: &sdk.CallError{Code: sdk.ErrServer, Message: err.Error()}}, nil
		}
		if attempts != nil {
			*attempts++
		}
		start := time.Now()
		// The plugin gets the attempt's limit (limits.timeout) with the
		// call: the one timeout, whatever the plugin's own defaults.
		call.Timeout = max(time.Until(permit.Deadline()), time.Millisecond)
		// serr, not err: err must stay the loop's, which Next sets below.
		res, serr := c.send(ctx, permit.Deadline(), call)
		if serr != nil {
			permit.Done(nil, 0) // the plugin's fault, not the provider's
			return nil, serr
		}
		if res.Latency == 0 {
			res.Latency = time.Since(start)
		}
		cost := c.cost(res.Usage)
		retry, wait := permit.Done(res, cost)
		if res.Err != nil {
			g.noteFailure(c, res.Err, retry)
			if stop := c.ctl.Stopped(); stop != nil {
				g.noteStop(c, stop)
			}
		}
		if res.Err == nil && ckey != "" {
			cacheIt := func() { g.cachePut(ckey, res, cost, false) }
			if put != nil {
				*put = cacheIt
			} else {
				cacheIt()
			}
		}
		if res.Err == nil || !retry {
			return res, nil
		}
		g.r.log.Debug().Str("teacher", teacher).Str("error", res.Err.Error()).Dur("wait", wait).Msg("retrying call")
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		permit, err = permit.Next(ctx)
	}
}

func requestKey(unitKey, reqID string) string {
	h := sha256.Sum256([]byte(unitKey + "\x00" + reqID))
	return hex.EncodeToString(h[:16])
}

func (g *generator) runUnit(ctx context.Context, u *plan.Unit) (any, error) {
	if ts := g.r.P.Exp.Teacher(u.Teacher); ts != nil && ts.Batch {
		return g.runBatchUnit(ctx, u) // batch.go
	}
	return g.runPrefix(ctx, u, 0)
}

// runPrefix runs the first limit requests of u (0: all of them). A
// screening stage generates such a prefix: requests are made in index
// order and their keys do not depend on the limit, so the next stage and
// the full run continue where it stopped and send nothing twice.
func (g *generator) runPrefix(ctx context.Context, u *plan.Unit, limit int) (any, error) {
	st := g.r.P.Exp.Strategy(u.Strategy)
	if st == nil {
		return nil, fmt.Errorf("strategy %q not in the spec", u.Strategy)
	}
	in, err := g.unitInput(u, st)
	if err != nil {
		return nil, err
	}
	reqs, lang, done, skipped := in.reqs, in.lang, in.done, in.skipped
	own, err := g.conn(ctx, u.Teacher)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var firstFatal error
	produced, failed := 0, 0
	var wg sync.WaitGroup
	// Requests run on workers that live as long as the unit, at most one
	// per slot: a goroutine per request grew a fresh stack through the
	// request's hashing and encoding every time (3 % of the host's CPU).
	// This loop makes the requests in order (the expander is cheapest
	// that way) and takes each one's slot before handing it over.
	type job struct {
		req strategy.Request
		key string
	}
	work := make(chan job)
	workers := 0
	worker := func(j job) {
		defer wg.Done()
		for ok := true; ok; j, ok = <-work {
			res, err := g.runRequest(ctx, u, st, &j.req, j.key, lang)
			g.inflight.Add(-1)
			<-own.slots
			mu.Lock()
			if err != nil && firstFatal == nil {
				firstFatal = err
			}
			if res {
				produced++
			} else if err == nil {
				failed++
			}
			mu.Unlock()
		}
	}
	total := reqs.Len()
	if limit > 0 {
		total = min(total, limit)
	}
	for i := range total {
		req, err := reqs.Request(i)
		if err != nil {
			mu.Lock()
			firstFatal = cmp.Or(firstFatal, error(&fatalError{err}))
			mu.Unlock()
			break
		}
		key := requestKey(u.Key, req.ID)
		if done[key] {
			continue
		}
		select {
		case own.slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		stop := firstFatal != nil
		mu.Unlock()
		if stop {
			<-own.slots
			break
		}
		g.inflight.Add(1)
		select {
		case work <- job{req, key}: // an idle worker took it
			continue
		default:
		}
		if workers < cap(own.slots) {
			workers++
			wg.Add(1)
			go worker(job{req, key})
			continue
		}
		work <- job{req, key} // a worker is finishing: it holds no slot
	}
	close(work)
	wg.Wait()
	if firstFatal != nil {
		return nil, firstFatal
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// Done only when every request has a final outcome; temporary
	// failures (rate limits that outlasted the retries) run again next time.
	doneNow, err := g.r.Store.DoneRequests(u.Key)
	if err != nil {
		return nil, err
	}
	if total < reqs.Len() {
		missing := 0
		for i := range total {
			req, err := reqs.Request(i)
			if err != nil {
				return nil, &fatalError{err}
			}
			if !doneNow[requestKey(u.Key, req.ID)] {
				missing++
			}
		}
		if missing > 0 {
			return nil, fmt.Errorf("%d of the first %d requests failed temporarily (see `polyglot status`); run again to retry them", missing, total)
		}
		return map[string]int{"requests": total, "new_examples": produced, "new_failures": failed}, nil
	}
	// Every done key is one of this unit's requests (keys hash the unit
	// key), so counting them is enough; rebuilding every request to look
	// its key up cost as much as making the requests in the first place.
	missing := reqs.Len() - len(doneNow)
	if missing < 0 { // not expected; check request by request
		missing = 0
		for i := range reqs.Len() {
			req, err := reqs.Request(i)
			if err != nil {
				return nil, &fatalError{err}
			}
			if !doneNow[requestKey(u.Key, req.ID)] {
				missing++
			}
		}
	}
	if missing > 0 {
		return nil, fmt.Errorf("%d of %d requests failed temporarily (see `polyglot status`); run again to retry them", missing, reqs.Len())
	}
	return map[string]int{"requests": reqs.Len(), "new_examples": produced, "new_failures": failed, "skipped_long_seeds": skipped}, nil
}

// unitInput is what running a unit's requests starts from, in streaming
// and batch mode alike.
type unitInput struct {
	skipped int // seed rows that do not fit the teacher's context
	lang    strategy.Language
	// reqs makes the requests as they are sent, not up front: a unit of a
	// million requests would otherwise hold them all.
	reqs *strategy.Expander
	done map[string]bool // request keys with a final outcome in the store
}

func (g *generator) unitInput(u *plan.Unit, st *spec.Strategy) (*unitInput, error) {
	src, err := g.r.seeds()
	if err != nil {
		return nil, &fatalError{err}
	}
	lang, err := strategy.ResolveLanguage(u.Language)
	if err != nil {
		return nil, err
	}
	fits, skipped := g.fitContext(u.Teacher, src.ix)
	if skipped > 0 {
		g.r.log.Info().Str("unit", u.Label).Int("skipped", skipped).Msg("seed prompts too long for the teacher's context window were skipped")
	}
	reqs := strategy.NewSeedsExpander(st, src, fits, u.Language, u.N, u.Seed)
	if reqs.Len() == 0 {
		return nil, fmt.Errorf("strategy %q has no seed rows for language %q (check its input block and the seeds' language and strategies columns)", st.Name, u.Language)
	}
	done, err := g.r.Store.DoneRequests(u.Key)
	if err != nil {
		return nil, err
	}
	return &unitInput{skipped: skipped, lang: lang, reqs: reqs, done: done}, nil
}

// fitContext tells which seed rows have a prompt that fits the teacher's
// context window together with its answer (docs/method.md §2: others are
// skipped; nil keeps every row) and how many do not. Tokens are estimated
// from the text (EstimateTokens).
func (g *generator) fitContext(teacher string, ix *seeds.Index) (func(int) bool, int) {
	ts := g.r.P.Exp.Teacher(teacher)
	if ts == nil || ts.ContextTokens == nil {
		return nil, 0
	}
	answer := 1024
	if ts.Sampling.MaxTokens != nil {
		answer = *ts.Sampling.MaxTokens
	}
	budget := *ts.ContextTokens - answer
	fits := func(i int) bool { return ix.PromptTokens(i) <= budget }
	skipped := 0
	for i := range ix.Len() {
		if !fits(i) {
			skipped++
		}
	}
	return fits, skipped
}

// EstimateTokens is a tokenizer-free upper-ish estimate of a text's
// tokens: a token per four bytes of Latin script, per character of scripts
// without spaces, whichever is more.
func EstimateTokens(s string) int { return seeds.EstimateTokens(s) }

// runRequest runs a request's steps and commits its outcome. ok reports an
// example; a returned error is fatal for the run.
func (g *generator) runRequest(ctx context.Context, u *plan.Unit, st *spec.Strategy, req *strategy.Request, key string, lang strategy.Language) (bool, error) {
	outputs := make(map[string]strategy.StepOutput, len(st.Steps))
	var usage sdk.Usage
	var cost, saved float64 // spent; answered by the response cache
	cached := 0
	var latency time.Duration
	var model string
	attempts := 0
	reasks := 0
	if ts := g.r.P.Exp.Teacher(u.Teacher); ts != nil {
		reasks = ts.Limits.Reasks
	}
	fail := func(reason, raw string, final bool) (bool, error) {
		err := g.commit(ctx, nil, &store.Failure{Key: key, Unit: u.Key, Teacher: u.Teacher, Language: u.Language, Strategy: u.Strategy, Seed: int(u.Seed), Reason: reason, Raw: raw, Attempts: attempts, Final: final})
		g.r.Opts.Progress.Advance(plan.Generate, 1, cost)
		return false, err
	}
	var params json.RawMessage
	for _, step := range st.Steps {
		teacher := step.Teacher
		if teacher == "" || teacher == "self" {
			teacher = u.Teacher
		}
		sc, err := g.conn(ctx, teacher)
		if err != nil {
			return false, err
		}
		bare := sc.bare.Load()
		var out strategy.StepOutput
		for ask := 0; ; ask++ {
			call, err := buildStepCall(u, step, req, outputs, lang, ask, bare)
			if err != nil {
				return fail("template_error", err.Error(), true)
			}
			if ask > 0 {
				call.ID += "/reask" + strconv.Itoa(ask)
			}
			var cacheIt func()
			var hit cacheUse
			res, err := g.call(ctx, teacher, call, requestIdentity(req, step), &attempts, &cacheIt, &hit)
			if err != nil {
				return false, err
			}
			usage.InputTokens += res.Usage.InputTokens
			usage.OutputTokens += res.Usage.OutputTokens
			latency += res.Latency
			c, cerr := g.conn(ctx, teacher)
			switch {
			case hit.cached:
				saved += hit.saved
				cached++
			case cerr == nil:
				cost += c.cost(res.Usage)
			}
			if teacher == u.Teacher {
				model = res.Model
				if cerr == nil {
					params = c.params(call.Sampling)
				} else {
					params, _ = json.Marshal(call.Sampling)
				}
			}
			if res.Err != nil {
				final := !res.Err.Code.Retryable()
				return fail("call_error:"+res.Err.Code.String(), truncate(res.Err.Message+"\n"+res.Err.Raw, 8192), final)
			}
			o, f := strategy.ParseOutput(step, res, maxOutputChars)
			if f == nil {
				if cacheIt != nil {
					cacheIt()
				}
				out = o
				break
			}
			if ask >= reasks {
				return fail(f.Reason, truncate(f.Raw, 65536), true)
			}
		}
		outputs[step.Name] = out
	}
	prompt, response, err := strategy.Emit(st, req, outputs)
	if err != nil {
		return fail("emit_error", err.Error(), true)
	}
	if model == "" && g.r.P.Exp.Teacher(u.Teacher) != nil {
		model = g.r.P.Exp.Teacher(u.Teacher).Model
	}
	ex := &store.Example{Key: key, Unit: u.Key, Teacher: u.Teacher, Model: model, Language: u.Language, Strategy: u.Strategy, Seed: int(u.Seed), SeedRowID: req.Seed.ID, Idx: req.Index,
		Prompt: prompt, Response: response, Params: params, InputTokens: int(usage.InputTokens), OutputTokens: int(usage.OutputTokens), Latency: latency, CostUSD: cost,
		SavedUSD: saved, CachedCalls: cached}
	if err := g.commit(ctx, ex, nil); err != nil {
		return false, err
	}
	g.r.Opts.Progress.Advance(plan.Generate, 1, cost)
	return true, nil
}

// maxOutputChars bounds one answer: longer ones are recorded as "too_long"
// failures rather than stored.
const maxOutputChars = 64 << 10

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// resolveSampling merges the family's recommended sampling with what the
// teacher block sets (the block wins).
func resolveSampling(t *spec.Teacher) sdk.Sampling {
	s := strategy.DefaultSampling(t.Family)
	if t.Sampling.Temperature != nil {
		s.Temperature = t.Sampling.Temperature
	}
	if t.Sampling.TopP != nil {
		s.TopP = t.Sampling.TopP
	}
	if t.Sampling.TopK != nil {
		s.TopK = t.Sampling.TopK
	}
	if t.Sampling.MaxTokens != nil {
		s.MaxTokens = *t.Sampling.MaxTokens
	}
	if t.Sampling.Seed != nil {
		s.Seed = t.Sampling.Seed
	}
	if len(t.Sampling.Stop) > 0 {
		s.Stop = t.Sampling.Stop
	}
	return s
}

// applySampling fills what the call does not set from the teacher's
// sampling (a step's max_tokens wins over the teacher's).
func applySampling(call *sdk.Call, s sdk.Sampling) {
	if call.Sampling.Temperature == nil {
		call.Sampling.Temperature = s.Temperature
	}
	if call.Sampling.TopP == nil {
		call.Sampling.TopP = s.TopP
	}
	if call.Sampling.TopK == nil {
		call.Sampling.TopK = s.TopK
	}
	if call.Sampling.MaxTokens == 0 {
		call.Sampling.MaxTokens = s.MaxTokens
	}
	if call.Sampling.Seed == nil {
		call.Sampling.Seed = s.Seed
	}
	if len(call.Sampling.Stop) == 0 {
		call.Sampling.Stop = s.Stop
	}
}
