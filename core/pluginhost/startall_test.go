package pluginhost

import (
	"context"
	"os"
	"slices"
	"testing"
)

// TestStartAllStartsAtOnce: three plugins that each finish starting only once
// all three have begun must all start, so their starts overlap; started one
// after another, the first would give up waiting and fail. A second Get of a
// started plugin returns the same process.
func TestStartAllStartsAtOnce(t *testing.T) {
	dir := t.TempDir()
	names := []string{"barrier-a", "barrier-b", "barrier-c"}
	for _, n := range names {
		if _, err := Install(context.Background(), dir, bins[n], ""); err != nil {
			t.Fatal(err)
		}
	}
	marks := t.TempDir()
	t.Setenv("BARRIER_DIR", marks)
	t.Setenv("BARRIER_N", "3")
	m := newManager(t, dir)
	m.Env = []string{"BARRIER_DIR", "BARRIER_N"}
	if errs := m.StartAll(context.Background(), append(names, "barrier-b")); len(errs) > 0 {
		t.Fatalf("StartAll: %v", errs)
	}
	var got []string
	for _, r := range m.List() {
		got = append(got, r.Info.Name)
	}
	if !slices.Equal(got, names) {
		t.Fatalf("running %v, want %v (one process each)", got, names)
	}
	first := m.List()[1]
	r, err := m.Get(context.Background(), "barrier-b")
	if err != nil || r != first {
		t.Fatalf("Get after StartAll = %v, %v; want the running process", r, err)
	}
	if es, _ := os.ReadDir(marks); len(es) != 3 {
		t.Errorf("%d starts marked, want 3", len(es))
	}
}

// TestStartAllReportsEachFailure: a plugin that is not installed fails alone;
// the others start.
func TestStartAllReportsEachFailure(t *testing.T) {
	dir := t.TempDir()
	if _, err := Install(context.Background(), dir, bins["echo"], ""); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, dir)
	errs := m.StartAll(context.Background(), []string{"echo", "missing"})
	if len(errs) != 1 || errs["missing"] == nil {
		t.Fatalf("errs = %v; want only missing's", errs)
	}
	if l := m.List(); len(l) != 1 || l[0].Name != "echo" {
		t.Fatalf("running %v, want echo", l)
	}
}
