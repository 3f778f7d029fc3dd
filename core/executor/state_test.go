package executor

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// An intent recorded before the backend is asked to start a job comes back to the next
// Begin as Intent (never as Existing), keeps its token through Commit, and a retry over
// it reports it as Superseded.
func TestIntentRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j := Job{Key: "k", Name: "n", Argv: []string{"true"}, WorkDir: dir, Array: 2}
	s, err := Begin(j, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Intend(""); err == nil || !strings.Contains(err.Error(), "NewToken") {
		t.Errorf("empty token: %v", err)
	}
	tok, err := NewToken()
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(tok) {
		t.Fatalf("NewToken %q %v", tok, err)
	}
	if other, _ := NewToken(); other == tok {
		t.Errorf("two tokens are equal: %s", tok)
	}
	if _, err := s.Intend(tok); err != nil {
		t.Fatal(err)
	}
	s.Close() // the process dies here, before the job id is known

	rec, err := LoadState(dir)
	if err != nil || !rec.Intent() || rec.Token != tok || rec.Handle.Attempt != 0 || rec.Handle.Array != 2 || rec.Submitted.IsZero() {
		t.Fatalf("intent on disk: %+v %v", rec, err)
	}
	tests := []struct {
		name    string
		attempt int
		check   func(t *testing.T, s *Submission)
	}{
		{"same attempt sees the intent", 0, func(t *testing.T, s *Submission) {
			if s.Existing != nil || s.Intent == nil || s.Intent.Token != tok || s.Superseded != nil {
				t.Errorf("want Intent with token %s only, got Existing=%v Intent=%v Superseded=%v", tok, s.Existing, s.Intent, s.Superseded)
			}
		}},
		{"retry supersedes the intent", 1, func(t *testing.T, s *Submission) {
			if s.Existing != nil || s.Intent != nil || s.Superseded == nil || s.Superseded.Token != tok {
				t.Errorf("want Superseded with token %s only, got Existing=%v Intent=%v Superseded=%v", tok, s.Existing, s.Intent, s.Superseded)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jj := j
			jj.Attempt = tc.attempt
			s, err := Begin(jj, "test")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tc.check(t, s)
		})
	}

	// Adopting: Commit under the same attempt keeps the token and completes the record.
	s, err = Begin(j, "test")
	if err != nil {
		t.Fatal(err)
	}
	h := Handle{Backend: "test", Key: "k", ID: "77", WorkDir: dir, Array: 2}
	if _, err := s.Commit(h, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if rec, err := LoadState(dir); err != nil || rec.Intent() || rec.Token != tok || rec.Handle != h {
		t.Fatalf("committed record: %+v %v", rec, err)
	}
	s, err = Begin(j, "test")
	if err != nil || s.Existing == nil || s.Intent != nil || s.Existing.Handle != h {
		t.Fatalf("after Commit the record re-attaches: %v %+v", err, s)
	}
	s.Close()
}

// A command started with HoldDuring keeps the folder locked after the Submission (or the
// whole process) is gone, until the command exits.
func TestHoldDuringOutlivesTheSubmission(t *testing.T) {
	dir := t.TempDir()
	j := Job{Key: "k", Name: "n", Argv: []string{"true"}, WorkDir: dir}
	s, err := Begin(j, "test")
	if err != nil {
		t.Fatal(err)
	}
	const hold = 700 * time.Millisecond
	cmd := exec.Command("sleep", "0.7")
	s.HoldDuring(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Close()
	s2, err := Begin(j, "test")
	waited := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	_ = cmd.Wait()
	if waited < hold-100*time.Millisecond {
		t.Errorf("Begin got the lock after %v, while the child held it for %v", waited, hold)
	}

	// Without HoldDuring the child does not keep the lock.
	s, _ = Begin(j, "test")
	cmd = exec.Command("sleep", "0.7")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	start = time.Now()
	s.Close()
	s2, err = Begin(j, "test")
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if waited := time.Since(start); waited > 500*time.Millisecond {
		t.Errorf("Begin waited %v for a child that was not given the lock", waited)
	}
}

func TestSaveStateLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	for i := range 3 {
		if err := SaveState(Record{Handle: Handle{Backend: "b", Key: "k", Attempt: i, ID: "1", WorkDir: dir}}); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != StateFile {
		t.Errorf("folder holds %v, want only %s", ents, StateFile)
	}
	if rec, err := LoadState(dir); err != nil || rec.Handle.Attempt != 2 {
		t.Errorf("last write wins: %+v %v", rec, err)
	}
}
