package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// Unit states.
const (
	Pending = "pending"
	Running = "running"
	Done    = "done"
	Failed  = "failed"
)

// Unit is one resumable piece of work of the engine's plan (a generation
// chunk, a metric over a cell, a training job...).
type Unit struct {
	Key      string
	Stage    string
	Label    string
	State    string // Pending | Running | Done | Failed
	Attempts int    // times it was set Running
	Detail   json.RawMessage
	Updated  time.Time
}

// Run is one invocation of polyglot against the store.
type Run struct {
	ID       int64
	SpecHash string
	Command  string
	PID      int
	Host     string
	Started  time.Time
	Ended    time.Time // zero while running (or when the process died)
	Status   string
}

func nowMS() int64 { return time.Now().UnixMilli() }

func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// BeginRun records the start of a run and returns its id.
func (s *Store) BeginRun(specHash, command string) (int64, error) {
	host, _ := os.Hostname()
	var id int64
	err := s.tx("begin run", func(tx *sql.Tx) error {
		r, err := tx.Exec(`INSERT INTO runs (spec_hash, command, pid, host, started) VALUES (?,?,?,?,?)`,
			specHash, command, os.Getpid(), host, nowMS())
		if err != nil {
			return err
		}
		id, err = r.LastInsertId()
		return err
	})
	return id, err
}

// EndRun records how a run ended ("ok", "failed", "interrupted"...).
func (s *Store) EndRun(id int64, status string) error {
	return s.tx("end run", func(tx *sql.Tx) error {
		r, err := tx.Exec(`UPDATE runs SET ended = ?, status = ? WHERE id = ?`, nowMS(), status, id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("run %d does not exist", id)
		}
		return nil
	})
}

// Runs lists every run, oldest first.
func (s *Store) Runs() ([]Run, error) {
	rows, err := s.rdb.Query(`SELECT id, spec_hash, command, pid, host, started, COALESCE(ended,0), status FROM runs ORDER BY id`)
	if err != nil {
		return nil, s.wrap("list runs", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var st, en int64
		if err := rows.Scan(&r.ID, &r.SpecHash, &r.Command, &r.PID, &r.Host, &st, &en, &r.Status); err != nil {
			return nil, err
		}
		r.Started, r.Ended = fromMS(st), fromMS(en)
		out = append(out, r)
	}
	return out, s.wrap("list runs", rows.Err())
}

func validState(st string) error {
	switch st {
	case Pending, Running, Done, Failed:
		return nil
	}
	return fmt.Errorf("unknown unit state %q (want pending, running, done or failed)", st)
}

func marshalDetail(v any) (any, error) {
	switch d := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if len(d) == 0 {
			return nil, nil
		}
		if !json.Valid(d) {
			return nil, errors.New("detail is not valid JSON")
		}
		return string(d), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("detail cannot be stored as JSON: %w", err)
	}
	return string(b), nil
}

// PutUnits inserts units whose key is absent; existing units keep their
// state, attempts and detail, which is what makes a re-planned run resume.
func (s *Store) PutUnits(units []Unit) error {
	for _, u := range units {
		if u.Key == "" || u.Stage == "" {
			return fmt.Errorf("unit %q: key and stage are required", u.Key)
		}
		if u.State == "" {
			continue
		}
		if err := validState(u.State); err != nil {
			return fmt.Errorf("unit %q: %w", u.Key, err)
		}
	}
	return s.tx("put units", func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT INTO units (key, stage, label, state, attempts, detail, updated) VALUES (?,?,?,?,?,?,?) ON CONFLICT (key) DO NOTHING`)
		if err != nil {
			return err
		}
		defer st.Close()
		now := nowMS()
		for _, u := range units {
			state := u.State
			if state == "" {
				state = Pending
			}
			d, err := marshalDetail(u.Detail)
			if err != nil {
				return fmt.Errorf("unit %q: %w", u.Key, err)
			}
			if _, err := st.Exec(u.Key, u.Stage, u.Label, state, u.Attempts, d, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// Unit returns one unit.
func (s *Store) Unit(key string) (Unit, bool, error) {
	u, err := scanUnit(s.rdb.QueryRow(`SELECT key, stage, label, state, attempts, detail, updated FROM units WHERE key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Unit{}, false, nil
	}
	if err != nil {
		return Unit{}, false, s.wrap("read unit", err)
	}
	return u, true, nil
}

type scanner interface{ Scan(...any) error }

func scanUnit(r scanner) (Unit, error) {
	var u Unit
	var d sql.NullString
	var up int64
	if err := r.Scan(&u.Key, &u.Stage, &u.Label, &u.State, &u.Attempts, &d, &up); err != nil {
		return u, err
	}
	if d.Valid {
		u.Detail = json.RawMessage(d.String)
	}
	u.Updated = fromMS(up)
	return u, nil
}

// SetUnit changes a unit's state; Running also counts an attempt. A nil
// detail keeps the stored one.
func (s *Store) SetUnit(key, state string, detail any) error {
	if err := validState(state); err != nil {
		return fmt.Errorf("unit %q: %w", key, err)
	}
	d, err := marshalDetail(detail)
	if err != nil {
		return fmt.Errorf("unit %q: %w", key, err)
	}
	return s.tx("set unit", func(tx *sql.Tx) error {
		inc := 0
		if state == Running {
			inc = 1
		}
		r, err := tx.Exec(`UPDATE units SET state = ?, attempts = attempts + ?, detail = COALESCE(?, detail), updated = ? WHERE key = ?`,
			state, inc, d, nowMS(), key)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("unit %q does not exist; add it with PutUnits first", key)
		}
		return nil
	})
}

// Units lists the units of a stage ("" = every stage), ordered by stage then key.
func (s *Store) Units(stage string) ([]Unit, error) {
	q := `SELECT key, stage, label, state, attempts, detail, updated FROM units`
	var args []any
	if stage != "" {
		q += ` WHERE stage = ?`
		args = append(args, stage)
	}
	rows, err := s.rdb.Query(q+` ORDER BY stage, key`, args...)
	if err != nil {
		return nil, s.wrap("list units", err)
	}
	defer rows.Close()
	var out []Unit
	for rows.Next() {
		u, err := scanUnit(rows)
		if err != nil {
			return nil, s.wrap("list units", err)
		}
		out = append(out, u)
	}
	return out, s.wrap("list units", rows.Err())
}

// ResetRunning sets every Running unit back to Pending: called at the start
// of a run, since units left Running belong to a process that died.
func (s *Store) ResetRunning() (int, error) {
	var n int64
	err := s.tx("reset running units", func(tx *sql.Tx) error {
		r, err := tx.Exec(`UPDATE units SET state = 'pending', updated = ? WHERE state = 'running'`, nowMS())
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return int(n), err
}

// DoneRequests returns the request keys of a unit that have a final
// outcome: a stored example or a final failure. The engine skips them on
// resume, so nothing is paid for twice.
func (s *Store) DoneRequests(unitKey string) (map[string]bool, error) {
	done := map[string]bool{}
	for _, q := range []string{
		`SELECT key FROM examples WHERE unit_key = ?`,
		`SELECT key FROM failures WHERE unit_key = ? AND final = 1`,
	} {
		rows, err := s.rdb.Query(q, unitKey)
		if err != nil {
			return nil, s.wrap("read done requests", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, s.wrap("read done requests", err)
			}
			done[k] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.wrap("read done requests", err)
		}
	}
	return done, nil
}

// DoneRequestCount is len(DoneRequests(unitKey)) without reading the keys:
// progress bars and `polyglot plan` count what a resumed unit has done.
func (s *Store) DoneRequestCount(unitKey string) (int, error) {
	var n int
	err := s.rdb.QueryRow(`SELECT count(*) FROM (SELECT key FROM examples WHERE unit_key = ?1 UNION SELECT key FROM failures WHERE unit_key = ?1 AND final = 1)`, unitKey).Scan(&n)
	return n, s.wrap("count done requests", err)
}
