package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MetricAggregate is a metric's value for one cell at one seed; the fields
// mirror score.MetricRecord. Strategy "" means all strategies together.
type MetricAggregate struct {
	Metric    string
	Teacher   string
	Language  string
	Strategy  string
	Seed      int
	Value     float64
	Direction string // higher | lower | none
	N         int
	Stderr    float64
	Detail    json.RawMessage // e.g. per-example values for the bootstrap; may be nil
	Updated   time.Time       // read only
}

// PutMetricAggregate stores (replaces) aggregates.
func (s *Store) PutMetricAggregate(aggs ...MetricAggregate) error {
	return s.tx("store metric aggregates", func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT OR REPLACE INTO metric_aggregates (metric, teacher, language, strategy, seed, value, direction, n, stderr, detail, updated)
VALUES (?,?,?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		now := nowMS()
		for _, a := range aggs {
			if a.Metric == "" || a.Teacher == "" || a.Language == "" {
				return fmt.Errorf("metric aggregate %+v: metric, teacher and language are required", a)
			}
			d, err := marshalDetail(a.Detail)
			if err != nil {
				return fmt.Errorf("metric aggregate %s/%s/%s: %w", a.Metric, a.Teacher, a.Language, err)
			}
			if _, err := st.Exec(a.Metric, a.Teacher, a.Language, a.Strategy, a.Seed, a.Value, a.Direction, a.N, a.Stderr, d, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// MetricAggregates returns the aggregates of the given metrics (none = all),
// ordered by metric, teacher, language, strategy, seed.
func (s *Store) MetricAggregates(metrics ...string) ([]MetricAggregate, error) {
	q := `SELECT metric, teacher, language, strategy, seed, value, direction, n, stderr, detail, updated FROM metric_aggregates`
	var args []any
	if len(metrics) > 0 {
		q += ` WHERE metric IN (` + strings.TrimSuffix(strings.Repeat("?,", len(metrics)), ",") + `)`
		for _, m := range metrics {
			args = append(args, m)
		}
	}
	rows, err := s.rdb.Query(q+` ORDER BY metric, teacher, language, strategy, seed`, args...)
	if err != nil {
		return nil, s.wrap("read metric aggregates", err)
	}
	defer rows.Close()
	var out []MetricAggregate
	for rows.Next() {
		var a MetricAggregate
		var d sql.NullString
		var up int64
		if err := rows.Scan(&a.Metric, &a.Teacher, &a.Language, &a.Strategy, &a.Seed, &a.Value, &a.Direction, &a.N, &a.Stderr, &d, &up); err != nil {
			return nil, s.wrap("read metric aggregates", err)
		}
		if d.Valid {
			a.Detail = json.RawMessage(d.String)
		}
		a.Updated = fromMS(up)
		out = append(out, a)
	}
	return out, s.wrap("read metric aggregates", rows.Err())
}

// MetricAggregateValues is MetricAggregates without the per-example
// values and the write time (Detail stays nil, Updated zero): what a poll
// of the live view reads. Both columns come after detail in the row, so
// reading them walks each row's overflow pages, which made a paper-scale
// poll read its thousands of per-example values every second.
func (s *Store) MetricAggregateValues() ([]MetricAggregate, error) {
	rows, err := s.rdb.Query(`SELECT metric, teacher, language, strategy, seed, value, direction, n, stderr FROM metric_aggregates
ORDER BY metric, teacher, language, strategy, seed`)
	if err != nil {
		return nil, s.wrap("read metric aggregates", err)
	}
	defer rows.Close()
	var out []MetricAggregate
	for rows.Next() {
		var a MetricAggregate
		if err := rows.Scan(&a.Metric, &a.Teacher, &a.Language, &a.Strategy, &a.Seed, &a.Value, &a.Direction, &a.N, &a.Stderr); err != nil {
			return nil, s.wrap("read metric aggregates", err)
		}
		out = append(out, a)
	}
	return out, s.wrap("read metric aggregates", rows.Err())
}

// Training is the outcome of one training job.
type Training struct {
	Unit       string // unit key of the training job
	Student    string
	Teacher    string
	Language   string
	Strategy   string // "" = trained on all strategies
	Seed       int
	Status     string // e.g. done | failed
	Checkpoint string // artifact sha or path of the trained model
	Detail     json.RawMessage
	Updated    time.Time // read only
}

// PutTraining stores (replaces) a training result.
func (s *Store) PutTraining(t Training) error {
	if t.Unit == "" {
		return errors.New("training result: unit key is required")
	}
	d, err := marshalDetail(t.Detail)
	if err != nil {
		return fmt.Errorf("training %s: %w", t.Unit, err)
	}
	return s.tx("store training result", func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR REPLACE INTO trainings (unit_key, student, teacher, language, strategy, seed, status, checkpoint, detail, updated)
VALUES (?,?,?,?,?,?,?,?,?,?)`, t.Unit, t.Student, t.Teacher, t.Language, t.Strategy, t.Seed, t.Status, t.Checkpoint, d, nowMS())
		return err
	})
}

// Trainings lists training results ordered by student, teacher, language, strategy, seed.
func (s *Store) Trainings() ([]Training, error) {
	rows, err := s.rdb.Query(`SELECT unit_key, student, teacher, language, strategy, seed, status, checkpoint, detail, updated FROM trainings
ORDER BY student, teacher, language, strategy, seed, unit_key`)
	if err != nil {
		return nil, s.wrap("read trainings", err)
	}
	defer rows.Close()
	var out []Training
	for rows.Next() {
		var t Training
		var d sql.NullString
		var up int64
		if err := rows.Scan(&t.Unit, &t.Student, &t.Teacher, &t.Language, &t.Strategy, &t.Seed, &t.Status, &t.Checkpoint, &d, &up); err != nil {
			return nil, s.wrap("read trainings", err)
		}
		if d.Valid {
			t.Detail = json.RawMessage(d.String)
		}
		t.Updated = fromMS(up)
		out = append(out, t)
	}
	return out, s.wrap("read trainings", rows.Err())
}

// Eval is one model's score on one benchmark; the fields mirror
// score.BenchmarkRecord.
type Eval struct {
	Role          string // student | base | reference
	Student       string
	StudentFamily string
	Teacher       string // students only
	Strategy      string // students only; "" = all strategies
	Language      string
	Seed          int
	Benchmark     string
	Score         float64
	Stderr        float64
	Detail        json.RawMessage
	Updated       time.Time // read only
}

// PutEval stores (replaces) evaluation results.
func (s *Store) PutEval(evs ...Eval) error {
	return s.tx("store evaluation results", func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT OR REPLACE INTO evals (role, student, student_family, teacher, strategy, language, seed, benchmark, score, stderr, detail, updated)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		now := nowMS()
		for _, e := range evs {
			if e.Role == "" || e.Student == "" || e.Language == "" || e.Benchmark == "" {
				return fmt.Errorf("evaluation %+v: role, student, language and benchmark are required", e)
			}
			d, err := marshalDetail(e.Detail)
			if err != nil {
				return fmt.Errorf("evaluation %s/%s: %w", e.Student, e.Benchmark, err)
			}
			if _, err := st.Exec(e.Role, e.Student, e.StudentFamily, e.Teacher, e.Strategy, e.Language, e.Seed, e.Benchmark, e.Score, e.Stderr, d, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// Evals lists evaluation results in primary-key order.
func (s *Store) Evals() ([]Eval, error) {
	rows, err := s.rdb.Query(`SELECT role, student, student_family, teacher, strategy, language, seed, benchmark, score, stderr, detail, updated FROM evals
ORDER BY role, student, teacher, strategy, language, seed, benchmark`)
	if err != nil {
		return nil, s.wrap("read evaluations", err)
	}
	defer rows.Close()
	var out []Eval
	for rows.Next() {
		var e Eval
		var d sql.NullString
		var up int64
		if err := rows.Scan(&e.Role, &e.Student, &e.StudentFamily, &e.Teacher, &e.Strategy, &e.Language, &e.Seed, &e.Benchmark, &e.Score, &e.Stderr, &d, &up); err != nil {
			return nil, s.wrap("read evaluations", err)
		}
		if d.Valid {
			e.Detail = json.RawMessage(d.String)
		}
		e.Updated = fromMS(up)
		out = append(out, e)
	}
	return out, s.wrap("read evaluations", rows.Err())
}

// KVPut stores v as JSON under (ns, key), e.g. executor job state or batch-API ids.
func (s *Store) KVPut(ns, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("kv %s/%s: value cannot be stored as JSON: %w", ns, key, err)
	}
	return s.tx("kv put", func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR REPLACE INTO kv (ns, key, value, updated) VALUES (?,?,?,?)`, ns, key, string(b), nowMS())
		return err
	})
}

// KVGet decodes the value under (ns, key) into v; found is false when absent.
func (s *Store) KVGet(ns, key string, v any) (found bool, err error) {
	var b string
	err = s.rdb.QueryRow(`SELECT value FROM kv WHERE ns = ? AND key = ?`, ns, key).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap("kv get", err)
	}
	if err := json.Unmarshal([]byte(b), v); err != nil {
		return true, fmt.Errorf("kv %s/%s: stored value does not decode into %T: %w", ns, key, v, err)
	}
	return true, nil
}

// KVDelete removes (ns, key); absent keys are fine.
func (s *Store) KVDelete(ns, key string) error {
	return s.tx("kv delete", func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM kv WHERE ns = ? AND key = ?`, ns, key)
		return err
	})
}

// KVKeys lists the keys of a namespace, sorted.
func (s *Store) KVKeys(ns string) ([]string, error) {
	rows, err := s.rdb.Query(`SELECT key FROM kv WHERE ns = ? ORDER BY key`, ns)
	if err != nil {
		return nil, s.wrap("kv keys", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, s.wrap("kv keys", rows.Err())
}
