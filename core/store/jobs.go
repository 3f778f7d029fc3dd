package store

import (
	"database/sql"
	"errors"
	"time"
)

// Job is one attempt of a job a trainer ran on an executor (local or Slurm):
// what it asked for and when it ran. It is recorded when the job is
// submitted, when it starts and when it ends.
type Job struct {
	Key       string // the executor's job key (trainers use the unit's key)
	Attempt   int
	Student   string
	Name      string
	Backend   string // local | slurm
	ID        string // the backend's id (a pid, a Slurm job id)
	GPUs      int    // GPUs per task, as requested
	Tasks     int    // array tasks (1 for a plain job)
	State     string // PENDING | RUNNING | SUCCEEDED | FAILED | CANCELLED (the run was interrupted)
	Submitted time.Time
	Started   time.Time // zero until the job runs
	Ended     time.Time // zero until it ends
}

// GPUHours is the GPU time the job has held: its GPUs × how long it ran, up
// to now while it runs. The executor reports one start and end per job, so
// for a Slurm array whose tasks ran side by side this is a lower bound (the
// local executor runs tasks one after the other, which it measures exactly).
func (j Job) GPUHours(now time.Time) float64 {
	if j.GPUs <= 0 || j.Started.IsZero() {
		return 0
	}
	end := j.Ended
	if end.IsZero() {
		end = now
	}
	if !end.After(j.Started) {
		return 0
	}
	return float64(j.GPUs) * end.Sub(j.Started).Hours()
}

// PutJob records (replaces) a job attempt.
func (s *Store) PutJob(j Job) error {
	if j.Key == "" {
		return errors.New("job record: key is required")
	}
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	return s.tx("store job", func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT OR REPLACE INTO jobs (key, attempt, student, name, backend, job_id, gpus, tasks, state, submitted, started, ended)
VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`, j.Key, j.Attempt, j.Student, j.Name, j.Backend, j.ID, j.GPUs, max(j.Tasks, 1), j.State, ms(j.Submitted), ms(j.Started), ms(j.Ended))
		return err
	})
}

// Jobs lists the recorded job attempts, oldest first.
func (s *Store) Jobs() ([]Job, error) {
	rows, err := s.rdb.Query(`SELECT key, attempt, student, name, backend, job_id, gpus, tasks, state, submitted, started, ended FROM jobs ORDER BY submitted, key, attempt`)
	if err != nil {
		return nil, s.wrap("read jobs", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		var j Job
		var sub, start, end int64
		if err := rows.Scan(&j.Key, &j.Attempt, &j.Student, &j.Name, &j.Backend, &j.ID, &j.GPUs, &j.Tasks, &j.State, &sub, &start, &end); err != nil {
			return nil, s.wrap("read jobs", err)
		}
		j.Submitted, j.Started, j.Ended = fromMS(sub), fromMS(start), fromMS(end)
		out = append(out, j)
	}
	return out, s.wrap("read jobs", rows.Err())
}
