package store

import (
	"math"
	"testing"
	"time"
)

// TestJobsRoundTrip: a job's attempts are kept with their GPUs and times,
// replaced as the job moves on, and read back by another (read-only) handle;
// GPU-hours count GPUs × run time, up to now while the job runs.
func TestJobsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	sub := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	j := Job{Key: "unit-a", Student: "s1", Name: "trl-train", Backend: "slurm", ID: "42", GPUs: 4, State: "PENDING", Submitted: sub}
	if err := s.PutJob(j); err != nil {
		t.Fatal(err)
	}
	j.State, j.Started = "RUNNING", sub.Add(10*time.Minute)
	if err := s.PutJob(j); err != nil {
		t.Fatal(err)
	}
	j2 := j
	j2.Attempt, j2.ID, j2.State, j2.Submitted, j2.Started, j2.Ended = 1, "43", "SUCCEEDED", sub.Add(time.Hour), sub.Add(time.Hour), sub.Add(2*time.Hour+30*time.Minute)
	if err := s.PutJob(j2); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob(Job{}); err == nil {
		t.Error("a job without a key was stored")
	}
	r, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	js, err := r.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 2 || js[0].State != "RUNNING" || js[0].Tasks != 1 || !js[0].Started.Equal(j.Started) || !js[0].Ended.IsZero() || js[1].Attempt != 1 {
		t.Fatalf("jobs read back: %+v", js)
	}
	if got := js[1].GPUHours(time.Now()); math.Abs(got-6) > 1e-9 {
		t.Errorf("4 GPUs for 1.5 h: %v GPU-hours, want 6", got)
	}
	if got := js[0].GPUHours(sub.Add(40 * time.Minute)); math.Abs(got-2) > 1e-9 {
		t.Errorf("a running job of 4 GPUs, 30 min in: %v GPU-hours, want 2", got)
	}
	if got := (Job{GPUs: 2, Submitted: sub}).GPUHours(sub.Add(time.Hour)); got != 0 {
		t.Errorf("a job that never started held %v GPU-hours", got)
	}
}
