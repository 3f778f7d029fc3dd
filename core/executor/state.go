package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// StateFile is the name of the JSON record every backend keeps in Job.WorkDir; it is what
// lets a new process re-attach to a job.
const StateFile = "polyglot-job.json"

const lockFile = ".polyglot-job.lock"

// Record is the content of StateFile.
type Record struct {
	Handle    Handle          `json:"handle"`
	Name      string          `json:"name,omitempty"`
	Submitted time.Time       `json:"submitted"`
	Backend   json.RawMessage `json:"backend,omitempty"` // backend-specific re-attach data
}

// LoadState reads the record in workDir; it returns fs.ErrNotExist (wrapped) if there is none.
func LoadState(workDir string) (Record, error) {
	var r Record
	p := filepath.Join(workDir, StateFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: corrupt job state (%v); delete the file to forget that job", p, err)
	}
	return r, nil
}

// SaveState writes r into r.Handle.WorkDir atomically (temp file + rename), so a crash
// never leaves a half-written record.
func SaveState(r Record) error {
	dir := r.Handle.WorkDir
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, StateFile+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, StateFile))
}

// Submission is an in-progress Submit: it holds an exclusive lock on the job folder so that
// concurrent Submits of one job (threads or processes) start it at most once.
type Submission struct {
	Job Job
	// Existing is the earlier record for the same Key and Attempt, if any: the backend
	// should re-attach to it instead of starting the job.
	Existing *Record
	lock     *os.File
}

// Begin validates j, creates its folder, locks it and looks for an earlier submission.
// It fails when the folder belongs to another job key or backend, or when j.Attempt is
// older than the recorded attempt. Call Close when done.
func Begin(j Job, backend string) (*Submission, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(j.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("job %q: create WorkDir: %w", j.Name, err)
	}
	f, err := os.OpenFile(filepath.Join(j.WorkDir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	// flock rather than an O_EXCL file: the kernel drops it if we crash.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	s := &Submission{Job: j, lock: f}
	rec, err := LoadState(j.WorkDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		s.Close()
		return nil, err
	}
	h := rec.Handle
	switch {
	case h.Key != j.Key:
		err = fmt.Errorf("WorkDir %s already holds job key %s, not %s: give every job its own folder", j.WorkDir, h.Key, j.Key)
	case h.Backend != backend:
		err = fmt.Errorf("WorkDir %s holds a job submitted to %q, not %q: use that backend to re-attach, or a new folder", j.WorkDir, h.Backend, backend)
	case j.Attempt < h.Attempt:
		err = fmt.Errorf("job %s: attempt %d is older than the recorded attempt %d in %s", j.Key, j.Attempt, h.Attempt, j.WorkDir)
	case j.Attempt == h.Attempt:
		s.Existing = &rec
		return s, nil
	default:
		// A retry: keep the earlier attempt's logs beside the new ones.
		old := filepath.Join(j.WorkDir, "logs")
		if _, statErr := os.Stat(old); statErr == nil {
			err = os.Rename(old, filepath.Join(j.WorkDir, fmt.Sprintf("logs.attempt-%d", h.Attempt)))
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Prepare writes j.Files and creates the log folder; call it before starting a new job.
func (s *Submission) Prepare() error {
	if err := os.MkdirAll(LogDir(s.Job.WorkDir), 0o755); err != nil {
		return err
	}
	for _, name := range sortedKeys(s.Job.Files) {
		p := filepath.Join(s.Job.WorkDir, filepath.Clean(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, s.Job.Files[name], 0o644); err != nil {
			return fmt.Errorf("job %q: write file %s: %w", s.Job.Name, name, err)
		}
	}
	return nil
}

// Commit records a started job under the lock.
func (s *Submission) Commit(h Handle, backend any) (Record, error) {
	r := Record{Handle: h, Name: s.Job.Name, Submitted: time.Now().UTC()}
	if backend != nil {
		b, err := json.Marshal(backend)
		if err != nil {
			return r, err
		}
		r.Backend = b
	}
	return r, SaveState(r)
}

// Close releases the folder lock.
func (s *Submission) Close() {
	if s.lock != nil {
		s.lock.Close() // closing the descriptor releases the flock
		s.lock = nil
	}
}

// LogDir is where a job's log files live.
func LogDir(workDir string) string { return filepath.Join(workDir, "logs") }

// LogPath is the log file of one stream ("stdout" or "stderr") of one task (-1 for a plain job).
func LogPath(workDir, stream string, task int) string {
	if task < 0 {
		return filepath.Join(LogDir(workDir), stream+".log")
	}
	return filepath.Join(LogDir(workDir), fmt.Sprintf("%s.%d.log", stream, task))
}
