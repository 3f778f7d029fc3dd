package slurm

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/core/executor"
)

func TestMissingToolsSayWhatToInstall(t *testing.T) {
	e := New()
	e.BinDir = t.TempDir() // no Slurm commands here
	_, err := e.Submit(context.Background(), executor.Job{Key: "k", Name: "n", WorkDir: t.TempDir(), Argv: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "sbatch not found") || !strings.Contains(err.Error(), "BinDir") {
		t.Fatalf("want a clear 'sbatch not found' error, got %v", err)
	}
}

func TestWaitGivesUpWhenControllerStaysDown(t *testing.T) {
	dir := t.TempDir()
	h := executor.Handle{Backend: Backend, Key: "k", ID: "123", WorkDir: dir}
	s, err := executor.Begin(executor.Job{Key: "k", Name: "n", WorkDir: dir, Argv: []string{"true"}}, Backend)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(h, info{JobID: "123"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	e := New()
	e.BinDir, _ = filepath.Abs(filepath.Join("testdata", "down-bin"))
	e.PollInterval, e.MaxQueryFailures = 10*time.Millisecond, 3
	_, err = e.Wait(context.Background(), h, nil)
	if err == nil || !strings.Contains(err.Error(), "failed 3 times") || !strings.Contains(err.Error(), "Unable to contact slurm controller") {
		t.Fatalf("want the controller error after 3 tries, got %v", err)
	}
}

// An intent that cannot be checked (slurmctld down) must not be submitted again: the job
// may exist. Submit says so and leaves the intent in place.
func TestUncheckableIntentIsNotResubmitted(t *testing.T) {
	dir := t.TempDir()
	j := executor.Job{Key: "k", Name: "n", WorkDir: dir, Argv: []string{"true"}}
	s, err := executor.Begin(j, Backend)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Intend("0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	e := New()
	// down-bin has a failing squeue and no sbatch: reaching sbatch would say "sbatch not found".
	e.BinDir, _ = filepath.Abs(filepath.Join("testdata", "down-bin"))
	_, err = e.Submit(context.Background(), j)
	if err == nil || !strings.Contains(err.Error(), "cannot be checked, so it is not submitted again") || !strings.Contains(err.Error(), "Unable to contact slurm controller") {
		t.Fatalf("want a refusal naming the controller error, got %v", err)
	}
	if rec, err := executor.LoadState(dir); err != nil || !rec.Intent() || rec.Token != "0123456789abcdef" {
		t.Errorf("intent must stay: %+v %v", rec, err)
	}
}
