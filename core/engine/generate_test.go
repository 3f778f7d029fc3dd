package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/core/seeds"
	"github.com/polyglot-teachers/polyglot/core/spec"
)

func TestEstimateTokens(t *testing.T) {
	for _, c := range []struct {
		text string
		want int
	}{
		{"", 0},
		{"abcd", 1},
		{"Wie spät ist es?", 5},
		{"お誕生日おめでとう", 9},
		{strings.Repeat("a", 4000), 1000},
	} {
		if got := EstimateTokens(c.text); got != c.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", c.text, got, c.want)
		}
	}
}

func TestFitContextSkipsLongSeeds(t *testing.T) {
	window, answer := 1100, 1000
	exp := &spec.Experiment{Teachers: []*spec.Teacher{{Name: "small", ContextTokens: &window, Sampling: spec.Sampling{MaxTokens: &answer}}, {Name: "big"}}}
	g := &generator{r: &Runner{P: &Prepared{Exp: exp}}}
	path := filepath.Join(t.TempDir(), "seeds.jsonl")
	data := `{"id":"short","prompt":"` + strings.Repeat("a", 400) + `"}` + "\n" + `{"id":"long","prompt":"` + strings.Repeat("a", 404) + `"}` + "\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := seeds.NewIndex([]*spec.SeedSet{{Name: "s", Path: path, Files: []string{path}, Format: "jsonl", Language: "de"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	fits, skipped := g.fitContext("small", ix)
	var kept []string
	for i := range ix.Len() {
		if fits(i) {
			r, _ := ix.Row(i)
			kept = append(kept, r.ID)
		}
	}
	if skipped != 1 || len(kept) != 1 || kept[0] != "short" {
		t.Fatalf("kept %v, skipped %d", kept, skipped)
	}
	if fits, skipped := g.fitContext("big", ix); skipped != 0 || fits != nil {
		t.Fatalf("a teacher without a window keeps everything: skipped %d", skipped)
	}
}

func TestGather(t *testing.T) {
	ready := func(n int, closed bool) chan int {
		ch := make(chan int, 16)
		for i := range n {
			ch <- i + 1
		}
		if closed {
			close(ch)
		}
		return ch
	}
	never := func(int) bool { return false }
	always := func(int) bool { return true }
	for _, tc := range []struct {
		name string
		ch   chan int
		max  int
		more func(int) bool
		late int // sent after 5 ms
		want int
	}{
		{"takes what is ready, waits for nothing", ready(3, false), 10, never, 1, 4},
		{"stops at max", ready(8, false), 5, always, 0, 5},
		{"stops when closed", ready(2, true), 10, always, 0, 3},
		{"waits while more are on their way", ready(1, false), 10, always, 1, 3},
		{"gives up after wait", ready(0, false), 10, always, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.late > 0 {
				go func() {
					time.Sleep(5 * time.Millisecond)
					tc.ch <- 99
				}()
			}
			start := time.Now()
			got := gather(tc.ch, []int{0}, tc.max, 200*time.Millisecond, tc.more)
			if len(got) != tc.want {
				t.Errorf("gathered %v, want %d items", got, tc.want)
			}
			if d := time.Since(start); tc.name == "gives up after wait" && d < 200*time.Millisecond {
				t.Errorf("returned after %s, before the wait", d)
			}
		})
	}
}

// TestPaceWaitsOnlyWhenItemsCome: the lookup loop waits for others only while
// lookups arrive faster than busyRate, and stops as soon as they slow down.
func TestPaceWaitsOnlyWhenItemsCome(t *testing.T) {
	var p pace
	now := time.Unix(0, 0)
	if p.busy() {
		t.Fatal("busy before anything arrived: the first request would wait")
	}
	step := func(n int, gap time.Duration) {
		now = now.Add(gap)
		p.observe(n, now)
	}
	// 100 ms latency at 128 in flight: one or two per millisecond.
	for range 50 {
		step(1, time.Millisecond)
	}
	if p.busy() {
		t.Errorf("busy at %.0f items/s: every request would wait for others that do not come", p.perSec)
	}
	// No latency: groups of dozens every millisecond or two.
	for range 10 {
		step(40, 2*time.Millisecond)
	}
	if !p.busy() {
		t.Errorf("not busy at %.0f items/s: lookups would lose their groups", p.perSec)
	}
	for range 10 {
		step(1, 5*time.Millisecond)
	}
	if p.busy() {
		t.Errorf("still busy at %.0f items/s after the rate fell", p.perSec)
	}
}
