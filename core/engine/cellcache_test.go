package engine

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/store"
)

// TestCellSampleReadOnce: a cell's metric units share one read of its
// sample, which gives what reading the store gives; a sample too large to
// keep is read from the store by each unit, the same examples in the same
// order.
func TestCellSampleReadOnce(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := st.NewWriter(store.WriterOptions{})
	for _, c := range []struct {
		unit string
		n    int
		resp int
	}{{"small-a", 30, 50}, {"small-b", 20, 50}, {"large", 12, 1 << 20}} {
		for i := range c.n {
			ex := &store.Example{Key: fmt.Sprintf("%s-%d", c.unit, i), Unit: c.unit, Teacher: "t", Model: "m", Language: "de", Strategy: []string{"a", "b"}[i%2], Seed: 1, Idx: i,
				Prompt: fmt.Sprintf("prompt %d of %s", i, c.unit), Response: strings.Repeat("r", c.resp)}
			if err := w.Example(ex); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := &Runner{Store: st}
	ids := func(cs *cellSample, units []string) []string {
		var out []string
		if err := r.eachSampled(cs, units, nil, func(x sampledExample) error {
			out = append(out, x.ex.ID+"|"+x.ex.Strategy+"|"+x.pair+"|"+fmt.Sprint(len(x.ex.Response)))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}

	small := []string{"small-a", "small-b"}
	cs, err := r.sample(small, 7, 25, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.chosen) != 25 || cs.total != 50 || len(cs.examples) != 25 {
		t.Fatalf("sample of 25 from 50: %d chosen of %d, %d kept", len(cs.chosen), cs.total, len(cs.examples))
	}
	if again, _ := r.sample(small, 7, 25, nil); again != cs {
		t.Error("the cell's next metric read its sample again")
	}
	streamed := &cellSample{chosen: cs.chosen, total: cs.total}
	if d := cmp.Diff(ids(streamed, small), ids(cs, small)); d != "" {
		t.Errorf("kept sample differs from the store's (-store +kept):\n%s", d)
	}
	if other, _ := r.sample(small, 8, 25, nil); other == cs {
		t.Error("another seed shared the sample")
	}

	// A screening stage's prefix is another sample.
	pre, err := r.sample(small, 7, 25, map[string]int{"small-a": 10})
	if err != nil {
		t.Fatal(err)
	}
	if pre == cs || pre.total != 30 {
		t.Errorf("the first 10 of small-a and all of small-b: %d examples (shared: %v), want 30", pre.total, pre == cs)
	}

	large := []string{"large"}
	lc, err := r.sample(large, 7, 12, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lc.examples != nil {
		t.Errorf("a %d MiB sample was kept in memory", 12)
	}
	if got := ids(lc, large); len(got) != 12 || !strings.HasSuffix(got[0], fmt.Sprint(1<<20)) {
		t.Errorf("large sample streamed %d examples: %.80q", len(got), got)
	}
}
