package store

import (
	"database/sql"
	"encoding/json"
	"strings"
	"time"
)

// FailureReason counts the failures of one teacher with one reason and
// finality, with the raw payload of the latest as an example.
type FailureReason struct {
	Teacher string
	Reason  string
	Final   bool
	Count   int
	Example string    // raw payload of the most recent one (redacted when stored)
	Last    time.Time // when the most recent one was recorded
}

// FailureReasons groups failures by teacher, reason and finality, most
// frequent first. units restricts them to those units' failures (nil: all)
// and since to failures recorded at or after it (zero: any time).
func (s *Store) FailureReasons(units []string, since time.Time) ([]FailureReason, error) {
	var conds []string
	var args []any
	if units != nil {
		if len(units) == 0 {
			return nil, nil
		}
		conds = append(conds, `unit_key IN (SELECT value FROM json_each(?))`)
		args = append(args, jsonList(units))
	}
	if !since.IsZero() {
		conds = append(conds, `updated >= ?`)
		args = append(args, since.UnixMilli())
	}
	w := ""
	if len(conds) > 0 {
		w = " WHERE " + strings.Join(conds, " AND ")
	}
	// SQLite takes a bare column (raw) from the row that gave max(updated).
	rows, err := s.rdb.Query(`SELECT teacher, reason, final, count(*), max(updated), raw FROM failures`+w+
		` GROUP BY teacher, reason, final ORDER BY count(*) DESC, teacher, reason, final`, args...)
	if err != nil {
		return nil, s.wrap("failure reasons", err)
	}
	defer rows.Close()
	var out []FailureReason
	for rows.Next() {
		var r FailureReason
		var last int64
		if err := rows.Scan(&r.Teacher, &r.Reason, &r.Final, &r.Count, &last, &r.Example); err != nil {
			return nil, s.wrap("failure reasons", err)
		}
		r.Last = fromMS(last)
		out = append(out, r)
	}
	return out, s.wrap("failure reasons", rows.Err())
}

// RetryFailed turns the final failures of the given units (nil: every
// unit) whose reason matches into ordinary ones, which the next run sends
// again (DoneRequests no longer counts them). A reason matches when it is
// in reasons, as stored ("call_error:not_found", "too_long") or without
// its "call_error:" prefix; nil reasons match all. It returns the number
// of failures and the keys of the units they belong to.
func (s *Store) RetryFailed(reasons, units []string) (int, []string, error) {
	conds := []string{"final = 1"}
	var args []any
	if reasons != nil {
		conds = append(conds, `(reason IN (SELECT value FROM json_each(?)) OR reason IN (SELECT 'call_error:' || value FROM json_each(?)))`)
		args = append(args, jsonList(reasons), jsonList(reasons))
	}
	if units != nil {
		conds = append(conds, `unit_key IN (SELECT value FROM json_each(?))`)
		args = append(args, jsonList(units))
	}
	w := " WHERE " + strings.Join(conds, " AND ")
	var n int
	var keys []string
	err := s.tx("retry failed", func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT unit_key, count(*) FROM failures`+w+` GROUP BY unit_key ORDER BY unit_key`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			var c int
			if err := rows.Scan(&k, &c); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
			n += c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.Exec(`UPDATE failures SET final = 0`+w, args...)
		return err
	})
	return n, keys, err
}

// ReasonsOf lists the distinct failure reasons stored, for messages that
// name the valid choices.
func (s *Store) ReasonsOf(final bool) ([]string, error) {
	rows, err := s.rdb.Query(`SELECT DISTINCT reason FROM failures WHERE final = ? ORDER BY reason`, final)
	if err != nil {
		return nil, s.wrap("failure reasons", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, s.wrap("failure reasons", err)
		}
		out = append(out, r)
	}
	return out, s.wrap("failure reasons", rows.Err())
}

// jsonList encodes xs as a JSON array, for json_each(?).
func jsonList(xs []string) string {
	if xs == nil {
		xs = []string{}
	}
	b, _ := json.Marshal(xs)
	return string(b)
}
