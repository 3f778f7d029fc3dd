package executor

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// StateFile is the name of the JSON record every backend keeps in Job.WorkDir; it is what
// lets a new process re-attach to a job.
const StateFile = "polyglot-job.json"

const lockFile = ".polyglot-job.lock"

// Record is the content of StateFile.
//
// A record whose Handle.ID is empty is an intent (see Submission.Intend): the backend was
// about to start the job with submission token Token and may or may not have done so before
// the process died. Backends that write intents resolve them by asking their scheduler for
// the token; backends that never write intents never see one.
type Record struct {
	Handle Handle `json:"handle"`
	Name   string `json:"name,omitempty"`
	// Token is the submission token the backend gave the job (e.g. in a Slurm job name) so
	// that the job can be found again without its backend id; empty for backends without one.
	Token string `json:"token,omitempty"`
	// Submitted is when the job was started, or for an intent when starting it began.
	Submitted time.Time       `json:"submitted"`
	Backend   json.RawMessage `json:"backend,omitempty"` // backend-specific re-attach data
}

// Intent reports whether r records a submission whose outcome is unknown: started or not,
// the backend id was never recorded.
func (r Record) Intent() bool { return r.Handle.ID == "" }

// NewToken returns a random submission token of 16 hex characters. 64 random bits make a
// collision between two submissions that can see each other's jobs negligible.
func NewToken() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("submission token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
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

// SaveState writes r into r.Handle.WorkDir atomically and durably (temp file, fsync,
// rename, fsync of the folder), so neither a crash nor a power loss leaves a half-written
// record or loses one that a backend acted on.
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
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, StateFile)); err != nil {
		return err
	}
	// The rename is only durable once the folder's entry is on disk.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Submission is an in-progress Submit: it holds an exclusive lock on the job folder so that
// concurrent Submits of one job (threads or processes) start it at most once.
type Submission struct {
	Job Job
	// Existing is the earlier record for the same Key and Attempt, if any: the backend
	// should re-attach to it instead of starting the job.
	Existing *Record
	// Intent is an earlier intent for the same Key and Attempt (see Record.Intent): the job
	// may already run. The backend must look it up by Intent.Token and adopt it (Commit with
	// the id found), or start it with the same token when its scheduler has never seen it.
	// Existing is nil when Intent is set.
	Intent *Record
	// Superseded is the earlier attempt's record when j is a retry (j.Attempt greater than
	// the recorded attempt); a backend may use it to clean up an attempt that was only
	// ever an intent.
	Superseded *Record
	lock       *os.File
	backend    string
	token      string
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
	s := &Submission{Job: j, lock: f, backend: backend}
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
	case j.Attempt == h.Attempt && rec.Intent():
		s.Intent = &rec
		s.token = rec.Token
		return s, nil
	case j.Attempt == h.Attempt:
		s.Existing = &rec
		return s, nil
	default:
		s.Superseded = &rec
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

// Intend durably records, before the backend is asked to start the job, that it is about
// to be started with the given submission token (see NewToken). Without it a crash between
// "the scheduler accepted the job" and Commit would leave a job running that no later
// process knows about, and the next Submit would start it a second time. The token is kept
// by Commit.
func (s *Submission) Intend(token string) (Record, error) {
	if token == "" {
		return Record{}, errors.New("Intend: empty submission token (use NewToken)")
	}
	j := s.Job
	r := Record{
		Handle:    Handle{Backend: s.backend, Key: j.Key, Attempt: j.Attempt, WorkDir: j.WorkDir, Array: j.Array},
		Name:      j.Name,
		Token:     token,
		Submitted: time.Now().UTC(),
	}
	if err := SaveState(r); err != nil {
		return r, fmt.Errorf("job %q: record submission intent: %w", j.Name, err)
	}
	s.token = token
	return r, nil
}

// HoldDuring makes cmd inherit the folder lock, so that the lock outlives this process
// while cmd runs: if this process dies while the scheduler's submit command is still
// talking to the scheduler, the next Submit waits for that command to finish before it
// looks the token up, instead of racing it. Call it before cmd.Start.
func (s *Submission) HoldDuring(cmd *exec.Cmd) {
	if s.lock != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, s.lock)
	}
}

// Commit records a started job under the lock.
func (s *Submission) Commit(h Handle, backend any) (Record, error) {
	r := Record{Handle: h, Name: s.Job.Name, Token: s.token, Submitted: time.Now().UTC()}
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
