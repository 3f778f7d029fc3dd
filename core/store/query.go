package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// ErrStop may be returned by an iteration callback to end it early without error.
var ErrStop = errors.New("stop iteration")

// Filter selects examples or failures. Empty fields match everything.
type Filter struct {
	Teachers   []string
	Languages  []string
	Strategies []string
	Seeds      []int
	Unit       string
	// Below keeps the examples whose position in their unit (the request
	// index) is below it: a screening stage's prefix. 0 keeps all. Only
	// for examples (failures have no position).
	Below int
}

// where builds the WHERE clause for f; prefix qualifies column names.
func (f Filter) where(prefix string) (string, []any) {
	var conds []string
	var args []any
	in := func(col string, n int, arg func(i int) any) {
		if n == 0 {
			return
		}
		conds = append(conds, prefix+col+" IN ("+strings.TrimSuffix(strings.Repeat("?,", n), ",")+")")
		for i := 0; i < n; i++ {
			args = append(args, arg(i))
		}
	}
	in("teacher", len(f.Teachers), func(i int) any { return f.Teachers[i] })
	in("language", len(f.Languages), func(i int) any { return f.Languages[i] })
	in("strategy", len(f.Strategies), func(i int) any { return f.Strategies[i] })
	in("seed", len(f.Seeds), func(i int) any { return f.Seeds[i] })
	if f.Unit != "" {
		conds = append(conds, prefix+"unit_key = ?")
		args = append(args, f.Unit)
	}
	if f.Below > 0 {
		conds = append(conds, prefix+"idx < ?")
		args = append(args, f.Below)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

const exampleCols = `key, unit_key, teacher, model, language, strategy, seed, seed_row_id, idx, prompt, response, params, input_tokens, output_tokens, latency_ms, cost_usd, saved_usd, cached_calls, created`

// Examples streams the examples matching f to fn in a deterministic order
// (teacher, language, strategy, seed, idx, then insertion order for the
// rare ties; the order index ends in the rowid, so no sort is needed), one row in memory at a
// time. Returning ErrStop from fn ends the iteration with a nil error.
func (s *Store) Examples(f Filter, fn func(*Example) error) error {
	w, args := f.where("")
	rows, err := s.rdb.Query(`SELECT `+exampleCols+` FROM examples`+w+` ORDER BY teacher, language, strategy, seed, idx, rowid`, args...)
	if err != nil {
		return s.wrap("read examples", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := new(Example)
		var params sql.NullString
		var lat float64
		var created int64
		if err := rows.Scan(&e.Key, &e.Unit, &e.Teacher, &e.Model, &e.Language, &e.Strategy, &e.Seed, &e.SeedRowID, &e.Idx,
			&e.Prompt, &e.Response, &params, &e.InputTokens, &e.OutputTokens, &lat, &e.CostUSD, &e.SavedUSD, &e.CachedCalls, &created); err != nil {
			return s.wrap("read examples", err)
		}
		if params.Valid {
			e.Params = json.RawMessage(params.String)
		}
		e.Latency = time.Duration(lat * float64(time.Millisecond))
		e.Created = fromMS(created)
		if err := fn(e); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return s.wrap("read examples", rows.Err())
}

// ExampleTexts is Examples for exports: it fills only Key, Unit, Teacher,
// Language, Strategy, Seed, Idx, Prompt and Response, which reads about a
// fifth less per row.
func (s *Store) ExampleTexts(f Filter, fn func(*Example) error) error {
	w, args := f.where("")
	rows, err := s.rdb.Query(`SELECT key, unit_key, teacher, language, strategy, seed, idx, prompt, response FROM examples`+w+
		` ORDER BY teacher, language, strategy, seed, idx, rowid`, args...)
	if err != nil {
		return s.wrap("read examples", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := new(Example)
		if err := rows.Scan(&e.Key, &e.Unit, &e.Teacher, &e.Language, &e.Strategy, &e.Seed, &e.Idx, &e.Prompt, &e.Response); err != nil {
			return s.wrap("read examples", err)
		}
		if err := fn(e); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return s.wrap("read examples", rows.Err())
}

// CountExamples counts the examples matching f.
func (s *Store) CountExamples(f Filter) (int, error) {
	w, args := f.where("")
	var n int
	err := s.rdb.QueryRow(`SELECT count(*) FROM examples`+w, args...).Scan(&n)
	return n, s.wrap("count examples", err)
}

// Failures streams the failures matching f, ordered by cell then key.
func (s *Store) Failures(f Filter, fn func(*Failure) error) error {
	w, args := f.where("")
	rows, err := s.rdb.Query(`SELECT key, unit_key, teacher, language, strategy, seed, reason, raw, attempts, final, updated FROM failures`+w+
		` ORDER BY teacher, language, strategy, seed, key`, args...)
	if err != nil {
		return s.wrap("read failures", err)
	}
	defer rows.Close()
	for rows.Next() {
		x := new(Failure)
		var up int64
		if err := rows.Scan(&x.Key, &x.Unit, &x.Teacher, &x.Language, &x.Strategy, &x.Seed, &x.Reason, &x.Raw, &x.Attempts, &x.Final, &up); err != nil {
			return s.wrap("read failures", err)
		}
		x.Updated = fromMS(up)
		if err := fn(x); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return s.wrap("read failures", rows.Err())
}

// MetricValues streams the values of one metric for the examples matching
// f, in the examples' order.
func (s *Store) MetricValues(metric string, f Filter, fn func(*MetricValue) error) error {
	w, args := f.where("e.")
	// examples drive the loop (CROSS JOIN fixes the order): each probes
	// metric_values by its primary key, as examples have no key index.
	rows, err := s.rdb.Query(`SELECT m.metric, m.example_key, m.value, m.detail FROM examples e CROSS JOIN metric_values m ON m.metric = ? AND m.example_key = e.key`+
		w+` ORDER BY e.teacher, e.language, e.strategy, e.seed, e.idx, e.rowid`, append([]any{metric}, args...)...)
	if err != nil {
		return s.wrap("read metric values", err)
	}
	defer rows.Close()
	for rows.Next() {
		v := new(MetricValue)
		var d sql.NullString
		if err := rows.Scan(&v.Metric, &v.ExampleKey, &v.Value, &d); err != nil {
			return s.wrap("read metric values", err)
		}
		if d.Valid {
			v.Detail = json.RawMessage(d.String)
		}
		if err := fn(v); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return s.wrap("read metric values", rows.Err())
}

// StageCount counts a stage's units by state. The JSON names are those of
// `polyglot status --json` (snake_case, zeros present): a new field needs
// its tag too, core/command's tests check.
type StageCount struct {
	Stage   string `json:"stage"`
	Pending int    `json:"pending"`
	Running int    `json:"running"`
	Done    int    `json:"done"`
	Failed  int    `json:"failed"`
	// Dropped counts pending units a screening left out (their cell was
	// dropped); Summary leaves it 0: the store alone does not know which.
	Dropped int `json:"dropped"`
}

// CellSummary sums one (teacher, language, strategy, seed) cell.
type CellSummary struct {
	Teacher      string  `json:"teacher"`
	Language     string  `json:"language"`
	Strategy     string  `json:"strategy"`
	Seed         int     `json:"seed"`
	Examples     int     `json:"examples"`
	Failures     int     `json:"failures"` // final failures
	Retrying     int     `json:"retrying"` // non-final failures
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`     // spent
	SavedUSD     float64 `json:"saved_usd"`    // not spent: answers the response cache gave, at their cost
	CachedCalls  int64   `json:"cached_calls"` // calls the response cache answered
}

// Summary is what `polyglot status` prints.
type Summary struct {
	Stages []StageCount  `json:"stages"` // by stage name
	Cells  []CellSummary `json:"cells"`  // by teacher, language, strategy, seed
	Total  CellSummary   `json:"total"`  // sums over every cell (names empty)
}

// Summary counts units per stage and examples, failures, tokens and cost
// per cell. It reads running totals, so it is fast on large stores.
func (s *Store) Summary() (*Summary, error) {
	sum := &Summary{}
	rows, err := s.rdb.Query(`SELECT stage, state, count(*) FROM units GROUP BY stage, state ORDER BY stage`)
	if err != nil {
		return nil, s.wrap("summary", err)
	}
	idx := map[string]int{}
	for rows.Next() {
		var stage, state string
		var n int
		if err := rows.Scan(&stage, &state, &n); err != nil {
			rows.Close()
			return nil, s.wrap("summary", err)
		}
		i, ok := idx[stage]
		if !ok {
			i = len(sum.Stages)
			idx[stage] = i
			sum.Stages = append(sum.Stages, StageCount{Stage: stage})
		}
		sc := &sum.Stages[i]
		switch state {
		case Pending:
			sc.Pending = n
		case Running:
			sc.Running = n
		case Done:
			sc.Done = n
		case Failed:
			sc.Failed = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap("summary", err)
	}
	rows, err = s.rdb.Query(`
WITH f AS (SELECT teacher, language, strategy, seed, sum(final) AS fin, sum(1 - final) AS retry FROM failures GROUP BY 1,2,3,4),
cells AS (SELECT teacher, language, strategy, seed FROM cell_totals UNION SELECT teacher, language, strategy, seed FROM f)
SELECT c.teacher, c.language, c.strategy, c.seed, COALESCE(t.examples,0), COALESCE(f.fin,0), COALESCE(f.retry,0),
	COALESCE(t.input_tokens,0), COALESCE(t.output_tokens,0), COALESCE(t.cost_usd,0), COALESCE(t.saved_usd,0), COALESCE(t.cached_calls,0)
FROM cells c
LEFT JOIN cell_totals t USING (teacher, language, strategy, seed)
LEFT JOIN f USING (teacher, language, strategy, seed)
ORDER BY c.teacher, c.language, c.strategy, c.seed`)
	if err != nil {
		return nil, s.wrap("summary", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c CellSummary
		if err := rows.Scan(&c.Teacher, &c.Language, &c.Strategy, &c.Seed, &c.Examples, &c.Failures, &c.Retrying,
			&c.InputTokens, &c.OutputTokens, &c.CostUSD, &c.SavedUSD, &c.CachedCalls); err != nil {
			return nil, s.wrap("summary", err)
		}
		sum.Cells = append(sum.Cells, c)
		t := &sum.Total
		t.Examples += c.Examples
		t.Failures += c.Failures
		t.Retrying += c.Retrying
		t.InputTokens += c.InputTokens
		t.OutputTokens += c.OutputTokens
		t.CostUSD += c.CostUSD
		t.SavedUSD += c.SavedUSD
		t.CachedCalls += c.CachedCalls
	}
	return sum, s.wrap("summary", rows.Err())
}

// SpentUSD sums the recorded spend per teacher over every run of the store:
// what budgets carry over, so that a cap holds across resumes.
func (s *Store) SpentUSD() (map[string]float64, error) {
	rows, err := s.rdb.Query(`SELECT teacher, sum(cost_usd) FROM cell_totals GROUP BY teacher`)
	if err != nil {
		return nil, s.wrap("spent", err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var t string
		var usd float64
		if err := rows.Scan(&t, &usd); err != nil {
			return nil, s.wrap("spent", err)
		}
		out[t] = usd
	}
	return out, s.wrap("spent", rows.Err())
}

// ExampleKeys streams just the key and strategy of the examples matching f,
// in the same order as Examples, for callers that choose examples before
// reading their texts (the metric sample).
func (s *Store) ExampleKeys(f Filter, fn func(key, strategy string) error) error {
	w, args := f.where("")
	rows, err := s.rdb.Query(`SELECT key, strategy FROM examples`+w+` ORDER BY teacher, language, strategy, seed, idx, rowid`, args...)
	if err != nil {
		return s.wrap("read example keys", err)
	}
	defer rows.Close()
	var key, strategy string
	for rows.Next() {
		if err := rows.Scan(&key, &strategy); err != nil {
			return s.wrap("read example keys", err)
		}
		if err := fn(key, strategy); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return s.wrap("read example keys", rows.Err())
}
