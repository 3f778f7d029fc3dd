package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Example is one generated (prompt, response) pair. Key is the request key:
// a stable hash of everything that determines the request (its unit
// included), so a resumed run recognises work already paid for. A second
// example with the same (Unit, Idx, Key) is ignored; the engine's keys
// determine Idx, so for it that is the same as the same (Unit, Key).
type Example struct {
	Key          string
	Unit         string // unit key
	Teacher      string
	Model        string
	Language     string
	Strategy     string
	Seed         int // experiment random seed
	SeedRowID    string
	Idx          int // position in the cell
	Prompt       string
	Response     string
	Params       json.RawMessage // sampling parameters actually sent (JSON), may be nil
	InputTokens  int
	OutputTokens int
	Latency      time.Duration
	CostUSD      float64   // spent on this example's calls in this run
	SavedUSD     float64   // what its calls answered by the response cache had cost
	CachedCalls  int       // its calls answered by the response cache
	Created      time.Time // set by the Writer when zero
}

// Failure is a request that did not give an example. Final failures count
// as done (DoneRequests); non-final ones are retried by the next run. An
// example stored later for the same key removes its failure.
type Failure struct {
	Key      string
	Unit     string
	Teacher  string
	Language string
	Strategy string
	Seed     int
	Reason   string
	Raw      string // the raw payload that could not be used, for diagnosis
	Attempts int
	Final    bool
	Updated  time.Time // read only
}

// MetricValue is a metric's value for one example.
type MetricValue struct {
	Metric     string
	ExampleKey string
	Value      float64
	Detail     json.RawMessage // e.g. a judge's rationale; may be nil
}

// WriterOptions tune the batching of a Writer.
type WriterOptions struct {
	// BatchRows commits once this many rows are buffered (default 1000).
	BatchRows int
	// BatchInterval commits buffered rows at least this often (default 1s),
	// bounding what a crash can lose.
	BatchInterval time.Duration
	// OnCommit, when set, is called after each commit with the rows written
	// (from the Writer's goroutine; keep it quick).
	OnCommit func(rows int)
}

type opKind uint8

const (
	opExample opKind = iota
	opFailure
	opMetric
)

type op struct {
	kind opKind
	ex   *Example
	fail *Failure
	mv   MetricValue
}

type batch struct {
	ops  []op
	done chan error // non-nil for Flush: receives the commit result
}

// Writer batches rows from many goroutines into transactions committed by
// one goroutine. Each batch is atomic: after a crash the store holds whole
// batches only. A commit error (e.g. disk full) is sticky: it is returned
// by the next call and by Close, and later rows are refused; rows of
// earlier batches stay committed.
type Writer struct {
	s    *Store
	opts WriterOptions

	mu     sync.Mutex // guards buf, closed; held while handing a batch over so batches keep their order
	buf    []op
	closed bool

	errMu sync.Mutex
	err   error

	ch   chan batch
	stop chan struct{}
	wg   sync.WaitGroup
}

// NewWriter starts a Writer. Close it to commit the rest. On a read-only
// store every call returns ErrReadOnly.
func (s *Store) NewWriter(opts WriterOptions) *Writer {
	if opts.BatchRows <= 0 {
		opts.BatchRows = 1000
	}
	if opts.BatchInterval <= 0 {
		opts.BatchInterval = time.Second
	}
	w := &Writer{s: s, opts: opts, ch: make(chan batch, 2), stop: make(chan struct{})}
	if err := s.writable(); err != nil {
		w.err = err
	}
	w.wg.Add(2)
	go w.commitLoop()
	go w.tickLoop()
	return w
}

func (w *Writer) sticky() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

func (w *Writer) add(o op) error {
	if err := w.sticky(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("store writer is closed")
	}
	w.buf = append(w.buf, o)
	if len(w.buf) >= w.opts.BatchRows {
		w.ch <- batch{ops: w.buf}
		w.buf = make([]op, 0, w.opts.BatchRows)
	}
	return nil
}

// Example queues an example. e must not be changed afterwards.
func (w *Writer) Example(e *Example) error {
	if e == nil || e.Key == "" || e.Unit == "" {
		return errors.New("store: an example needs a request key and a unit key")
	}
	if e.Params != nil && !json.Valid(e.Params) {
		return fmt.Errorf("store: example %s: params are not valid JSON", e.Key)
	}
	return w.add(op{kind: opExample, ex: e})
}

// Failure queues a failure. f must not be changed afterwards.
func (w *Writer) Failure(f *Failure) error {
	if f == nil || f.Key == "" || f.Unit == "" {
		return errors.New("store: a failure needs a request key and a unit key")
	}
	return w.add(op{kind: opFailure, fail: f})
}

// MetricValues queues per-example metric values (replacing earlier values
// of the same metric and example).
func (w *Writer) MetricValues(vs ...MetricValue) error {
	for _, v := range vs {
		if v.Metric == "" || v.ExampleKey == "" {
			return errors.New("store: a metric value needs a metric name and an example key")
		}
		if v.Detail != nil && !json.Valid(v.Detail) {
			return fmt.Errorf("store: metric %s of %s: detail is not valid JSON", v.Metric, v.ExampleKey)
		}
		if err := w.add(op{kind: opMetric, mv: v}); err != nil {
			return err
		}
	}
	return nil
}

// Flush commits everything queued so far and waits for it.
func (w *Writer) Flush() error {
	if err := w.sticky(); err != nil {
		return err
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.sticky()
	}
	done := make(chan error, 1)
	w.ch <- batch{ops: w.buf, done: done}
	w.buf = nil
	w.mu.Unlock()
	return <-done
}

// Close commits the rest and stops the Writer. It returns the first commit
// error, if any.
func (w *Writer) Close() error {
	ferr := w.Flush()
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
		close(w.ch)
	}
	w.mu.Unlock()
	w.wg.Wait()
	if err := w.sticky(); err != nil {
		return err
	}
	return ferr
}

func (w *Writer) tickLoop() {
	defer w.wg.Done()
	t := time.NewTicker(w.opts.BatchInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			if !w.closed && len(w.buf) > 0 {
				w.ch <- batch{ops: w.buf}
				w.buf = make([]op, 0, w.opts.BatchRows)
			}
			w.mu.Unlock()
		}
	}
}

func (w *Writer) commitLoop() {
	defer w.wg.Done()
	for b := range w.ch {
		err := w.sticky()
		if err == nil && len(b.ops) > 0 {
			err = w.s.commitBatch(b.ops)
			if err != nil {
				w.errMu.Lock()
				if w.err == nil {
					w.err = err
				}
				w.errMu.Unlock()
			} else if w.opts.OnCommit != nil {
				w.opts.OnCommit(len(b.ops))
			}
		}
		if b.done != nil {
			b.done <- err
		}
	}
}

type cellKey struct {
	teacher, language, strategy string
	seed                        int
}

type cellSum struct {
	n, in, out, cached int64
	cost, saved        float64
}

// The batch statements, prepared once per store (see Store.prepared).
const (
	qAnyFailures = `SELECT EXISTS (SELECT 1 FROM failures)`
	qDelFailure  = `DELETE FROM failures WHERE key = ?`
	qHasExample  = `SELECT EXISTS (SELECT 1 FROM examples WHERE unit_key = ? AND key = ?)`
	qPutFailure  = `INSERT INTO failures (key, unit_key, teacher, language, strategy, seed, reason, raw, attempts, final, updated)
VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (key) DO UPDATE SET unit_key = excluded.unit_key, reason = excluded.reason, raw = excluded.raw,
attempts = excluded.attempts, final = excluded.final, updated = excluded.updated`
	qPutMetric = `INSERT INTO metric_values (metric, example_key, value, detail) VALUES (?,?,?,?)
ON CONFLICT (metric, example_key) DO UPDATE SET value = excluded.value, detail = excluded.detail`
	qCellTotals = `INSERT INTO cell_totals (teacher, language, strategy, seed, examples, input_tokens, output_tokens, cost_usd, saved_usd, cached_calls) VALUES (?,?,?,?,?,?,?,?,?,?)
ON CONFLICT DO UPDATE SET examples = examples + excluded.examples, input_tokens = input_tokens + excluded.input_tokens,
output_tokens = output_tokens + excluded.output_tokens, cost_usd = cost_usd + excluded.cost_usd,
saved_usd = saved_usd + excluded.saved_usd, cached_calls = cached_calls + excluded.cached_calls`
)

// batchStmts are the writer-connection statements one batch needs.
type batchStmts struct {
	anyFailures, delFailure, hasExample, putFailure, putMetric, cellTotals *sql.Stmt
	inserts                                                                map[int]*sql.Stmt // multi-row example inserts by row count
}

// exampleRuns calls fn with each run of examples that goes into one
// multi-row insert, in order.
func exampleRuns(ops []op, fn func(i, j int) error) error {
	for i := 0; i < len(ops); i++ {
		if ops[i].kind != opExample {
			continue
		}
		j := i
		for j < len(ops) && j-i < exampleChunk && ops[j].kind == opExample {
			j++
		}
		if err := fn(i, j); err != nil {
			return err
		}
		i = j - 1
	}
	return nil
}

// prepareBatch prepares (or finds) every statement ops need; it runs
// before the transaction, which holds the writer's only connection.
func (s *Store) prepareBatch(ops []op) (*batchStmts, error) {
	b := &batchStmts{inserts: map[int]*sql.Stmt{}}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{{&b.anyFailures, qAnyFailures}, {&b.delFailure, qDelFailure}, {&b.hasExample, qHasExample},
		{&b.putFailure, qPutFailure}, {&b.putMetric, qPutMetric}, {&b.cellTotals, qCellTotals}} {
		st, err := s.prepared(p.q)
		if err != nil {
			return nil, err
		}
		*p.st = st
	}
	err := exampleRuns(ops, func(i, j int) error {
		n := j - i
		if b.inserts[n] != nil {
			return nil
		}
		st, err := s.prepared(exampleInsertSQL(n))
		b.inserts[n] = st
		return err
	})
	return b, err
}

// commitBatch writes one batch in one transaction.
func (s *Store) commitBatch(ops []op) error {
	what := fmt.Sprintf("write a batch of %d rows", len(ops))
	ps, err := s.prepareBatch(ops)
	if err != nil {
		return s.wrap(what, err)
	}
	return s.tx(what, func(tx *sql.Tx) error {
		var anyFailures bool
		if err := tx.Stmt(ps.anyFailures).QueryRow().Scan(&anyFailures); err != nil {
			return err
		}
		delFail, insFail, hasEx, insMV := tx.Stmt(ps.delFailure), tx.Stmt(ps.putFailure), tx.Stmt(ps.hasExample), tx.Stmt(ps.putMetric)
		totals := map[cellKey]*cellSum{}
		now := nowMS()
		for i := 0; i < len(ops); i++ {
			o := ops[i]
			switch o.kind {
			case opExample:
				j := i
				for j < len(ops) && j-i < exampleChunk && ops[j].kind == opExample {
					j++
				}
				if err := insertExamples(tx.Stmt(ps.inserts[j-i]), ops[i:j], now, totals); err != nil {
					return err
				}
				if anyFailures {
					for _, o := range ops[i:j] {
						if _, err := delFail.Exec(o.ex.Key); err != nil {
							return err
						}
					}
				}
				i = j - 1
			case opFailure:
				f := o.fail
				var exists bool
				if err := hasEx.QueryRow(f.Unit, f.Key).Scan(&exists); err != nil {
					return err
				}
				if exists { // an example already settled this request
					continue
				}
				if _, err := insFail.Exec(f.Key, f.Unit, f.Teacher, f.Language, f.Strategy, f.Seed, f.Reason, f.Raw, f.Attempts, f.Final, now); err != nil {
					return fmt.Errorf("failure %s: %w", f.Key, err)
				}
				anyFailures = true
			case opMetric:
				v := o.mv
				var d any
				if len(v.Detail) > 0 {
					d = string(v.Detail)
				}
				if _, err := insMV.Exec(v.Metric, v.ExampleKey, v.Value, d); err != nil {
					return fmt.Errorf("metric %s of %s: %w", v.Metric, v.ExampleKey, err)
				}
			}
		}
		if len(totals) > 0 {
			up := tx.Stmt(ps.cellTotals)
			for k, c := range totals {
				if _, err := up.Exec(k.teacher, k.language, k.strategy, k.seed, c.n, c.in, c.out, c.cost, c.saved, c.cached); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// exampleChunk rows go into one multi-row INSERT: per-statement overhead of
// the driver dominated single-row inserts.
const exampleChunk = 64

const exampleInsertCols = 19

// insertExamples inserts a run of examples with one statement; RETURNING
// tells which keys were new, so duplicates never inflate the cell totals.
func insertExamples(st *sql.Stmt, ops []op, now int64, totals map[cellKey]*cellSum) error {
	n := len(ops)
	args := make([]any, 0, n*exampleInsertCols)
	byKey := make(map[string]*Example, n)
	for _, o := range ops {
		e := o.ex
		created := now
		if !e.Created.IsZero() {
			created = e.Created.UnixMilli()
		}
		var params any
		if len(e.Params) > 0 {
			params = string(e.Params)
		}
		args = append(args, e.Key, e.Unit, e.Teacher, e.Model, e.Language, e.Strategy, e.Seed, e.SeedRowID, e.Idx,
			e.Prompt, e.Response, params, e.InputTokens, e.OutputTokens, float64(e.Latency)/float64(time.Millisecond), e.CostUSD, e.SavedUSD, e.CachedCalls, created)
		if _, dup := byKey[e.Key]; !dup {
			byKey[e.Key] = e
		}
	}
	rows, err := st.Query(args...)
	if err != nil {
		return fmt.Errorf("examples %s…: %w", ops[0].ex.Key, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		e := byKey[k]
		if e == nil {
			continue
		}
		ck := cellKey{e.Teacher, e.Language, e.Strategy, e.Seed}
		c := totals[ck]
		if c == nil {
			c = &cellSum{}
			totals[ck] = c
		}
		c.n++
		c.in += int64(e.InputTokens)
		c.out += int64(e.OutputTokens)
		c.cost += e.CostUSD
		c.saved += e.SavedUSD
		c.cached += int64(e.CachedCalls)
	}
	return rows.Err()
}

// exampleInsertSQL is the insert of n examples in one statement.
func exampleInsertSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO examples (key, unit_key, teacher, model, language, strategy, seed, seed_row_id, idx, prompt, response, params, input_tokens, output_tokens, latency_ms, cost_usd, saved_usd, cached_calls, created) VALUES `)
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", exampleInsertCols), ",") + ")"
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(` ON CONFLICT (unit_key, idx, key) DO NOTHING RETURNING key`)
	return b.String()
}
