package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRetryFailed: final failures matching the reasons (stored name or
// without "call_error:") and units become ordinary ones, which
// DoneRequests no longer counts; others stay final.
func TestRetryFailed(t *testing.T) {
	f := func(key, unit, reason string, final bool) *Failure {
		return &Failure{Key: key, Unit: unit, Teacher: "gpt", Language: "de", Strategy: "s", Seed: 1, Reason: reason, Raw: "raw " + key, Attempts: 1, Final: final}
	}
	fails := []*Failure{
		f("a1", "u1", "call_error:not_found", true),
		f("a2", "u1", "call_error:not_found", true),
		f("a3", "u1", "too_long", true),
		f("a4", "u2", "call_error:not_found", true),
		f("a5", "u2", "call_error:server", false),
	}
	cases := []struct {
		name      string
		reasons   []string
		units     []string
		n         int
		wantUnits []string
		stillDone map[string][]string // unit -> keys still done after
	}{
		{"all", nil, nil, 4, []string{"u1", "u2"}, map[string][]string{"u1": nil, "u2": nil}},
		{"by short reason", []string{"not_found"}, nil, 3, []string{"u1", "u2"}, map[string][]string{"u1": {"a3"}, "u2": nil}},
		{"by stored reason and unit", []string{"call_error:not_found"}, []string{"u2"}, 1, []string{"u2"}, map[string][]string{"u1": {"a1", "a2", "a3"}, "u2": nil}},
		{"several reasons", []string{"too_long", "auth"}, nil, 1, []string{"u1"}, map[string][]string{"u1": {"a1", "a2"}, "u2": {"a4"}}},
		{"no match", []string{"auth"}, nil, 0, nil, map[string][]string{"u1": {"a1", "a2", "a3"}, "u2": {"a4"}}},
		{"non-final ones are not counted", []string{"server"}, nil, 0, nil, map[string][]string{"u1": {"a1", "a2", "a3"}, "u2": {"a4"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t, t.TempDir())
			w := s.NewWriter(WriterOptions{})
			for _, x := range fails {
				if err := w.Failure(x); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			n, units, err := s.RetryFailed(tc.reasons, tc.units)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.n || !cmp.Equal(units, tc.wantUnits) {
				t.Errorf("RetryFailed = %d %v, want %d %v", n, units, tc.n, tc.wantUnits)
			}
			for u, want := range tc.stillDone {
				done, err := s.DoneRequests(u)
				if err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, k := range []string{"a1", "a2", "a3", "a4", "a5"} {
					if done[k] {
						got = append(got, k)
					}
				}
				if want == nil {
					want = []string{}
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("%s: done after (-want +got):\n%s", u, d)
				}
			}
		})
	}
}

func TestFailureReasons(t *testing.T) {
	s := openT(t, t.TempDir())
	w := s.NewWriter(WriterOptions{})
	add := func(key, teacher, reason, raw string, final bool) {
		if err := w.Failure(&Failure{Key: key, Unit: "u-" + teacher, Teacher: teacher, Reason: reason, Raw: raw, Final: final}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct update times: the example is the latest
	}
	add("k1", "gpt", "call_error:auth", "first", true)
	add("k2", "gpt", "call_error:auth", "second", true)
	add("k3", "gpt", "call_error:server", "s", false)
	add("k4", "claude", "too_long", "long", true)
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	add("k5", "gpt", "call_error:auth", "third", true)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Teacher, Reason, Example string
		Final                    bool
		Count                    int
	}
	get := func(units []string, since time.Time) []row {
		rs, err := s.FailureReasons(units, since)
		if err != nil {
			t.Fatal(err)
		}
		var out []row
		for _, r := range rs {
			out = append(out, row{r.Teacher, r.Reason, r.Example, r.Final, r.Count})
		}
		return out
	}
	want := []row{{"gpt", "call_error:auth", "third", true, 3}, {"claude", "too_long", "long", true, 1}, {"gpt", "call_error:server", "s", false, 1}}
	if d := cmp.Diff(want, get(nil, time.Time{})); d != "" {
		t.Errorf("all (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]row{{"claude", "too_long", "long", true, 1}}, get([]string{"u-claude"}, time.Time{})); d != "" {
		t.Errorf("one unit (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]row{{"gpt", "call_error:auth", "third", true, 1}}, get(nil, mid)); d != "" {
		t.Errorf("since (-want +got):\n%s", d)
	}
	if got := get([]string{}, time.Time{}); got != nil {
		t.Errorf("no units: %v", got)
	}
}
