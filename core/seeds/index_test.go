package seeds

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// The index reads back, by offset or row number, exactly the rows Read
// gives, for every format; Row numbers them in the canonical order (set,
// id, prompt, then file order) and Each in file order.
func TestIndexReadsTheRowsReadGives(t *testing.T) {
	sets := []*spec.SeedSet{
		set(t, "good.jsonl", "jsonl", spec.SeedColumns{}, ""),
		set(t, "good.csv", "csv", spec.SeedColumns{ID: "id", Prompt: "text", Response: "answer", Language: "lang", Strategies: "strategies", Tags: "tags"}, ""),
		set(t, "good.parquet", "parquet", spec.SeedColumns{}, ""),
	}
	sets[0].Name, sets[1].Name, sets[2].Name = "b-jsonl", "c-csv", "a-parquet"
	type named struct {
		set string
		row Row
	}
	var want []named
	for _, s := range sets {
		rows, err := readAll(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			want = append(want, named{s.Name, r})
		}
	}
	ix, err := NewIndex(sets)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	var eachGot []Row
	if err := ix.Each(func(*Class) bool { return true }, func(r Row) error { eachGot = append(eachGot, r); return nil }); err != nil {
		t.Fatal(err)
	}
	var fileOrder []Row
	for _, w := range want {
		fileOrder = append(fileOrder, w.row)
	}
	if d := cmp.Diff(fileOrder, eachGot); d != "" {
		t.Errorf("Each (-Read +Each):\n%s", d)
	}
	canon := slices.Clone(want)
	slices.SortStableFunc(canon, func(a, b named) int {
		if c := strings.Compare(a.set, b.set); c != 0 {
			return c
		}
		if c := strings.Compare(a.row.ID, b.row.ID); c != 0 {
			return c
		}
		return strings.Compare(a.row.Prompt, b.row.Prompt)
	})
	if ix.Len() != len(canon) {
		t.Fatalf("Len %d, want %d", ix.Len(), len(canon))
	}
	for i, w := range canon {
		got, err := ix.Row(i)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(w.row, got); d != "" {
			t.Errorf("row %d (-Read +Index):\n%s", i, d)
		}
		c := ix.Classes()[ix.ClassOf(i)]
		if c.Set != w.set || c.Language != w.row.Language || !slices.Equal(c.Strategies, w.row.Strategies) || !slices.Equal(c.Tags, w.row.Tags) {
			t.Errorf("row %d: class %+v does not match %s %+v", i, c, w.set, w.row)
		}
		if ix.PromptTokens(i) != EstimateTokens(w.row.Prompt) {
			t.Errorf("row %d: %d tokens, want %d", i, ix.PromptTokens(i), EstimateTokens(w.row.Prompt))
		}
	}
	var de []string
	if err := ix.Each(func(c *Class) bool { return c.Language == "de" }, func(r Row) error { de = append(de, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(de, []string{"h-1", "c2"}) {
		t.Errorf("Each of the German rows: %v", de)
	}
}

// A seed file edited after it was indexed is an error naming it, not
// other rows read at the old offsets.
func TestIndexNoticesAChangedFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.jsonl")
	if err := os.WriteFile(p, []byte("{\"prompt\":\"eins\"}\n{\"prompt\":\"zwei\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := NewIndex([]*spec.SeedSet{{Name: "s", Path: p, Files: []string{p}, Format: "jsonl", Language: "de"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := os.WriteFile(p, []byte("{\"prompt\":\"drei, länger\"}\n{\"prompt\":\"zwei\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	_, err = ix.Row(0)
	if err == nil || !strings.Contains(err.Error(), p+": the file changed") {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkIndexJSONL indexes a 100,000-row JSONL file (one op is one
// row), then reads rows back at random, as requests do.
func BenchmarkIndexJSONL(b *testing.B) {
	path := writeBenchSeeds(b, 100_000)
	set := &spec.SeedSet{Name: "bench", Path: path, Files: []string{path}, Format: "jsonl"}
	b.Run("index", func(b *testing.B) {
		for done := 0; done < b.N; done += 100_000 {
			ix, err := NewIndex([]*spec.SeedSet{set})
			if err != nil {
				b.Fatal(err)
			}
			ix.Close()
		}
	})
	b.Run("row", func(b *testing.B) {
		ix, err := NewIndex([]*spec.SeedSet{set})
		if err != nil {
			b.Fatal(err)
		}
		defer ix.Close()
		b.ResetTimer()
		for i := range b.N {
			if _, err := ix.Row(i * 7919 % ix.Len()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReferenceRows is one metric unit's reference rows (one
// language and English, a sixth of a 120,000-row file each): read by
// scanning every file, as each metric unit did, or from the shared index.
func BenchmarkReferenceRows(b *testing.B) {
	const rows = 120_000
	path := filepath.Join(b.TempDir(), "seeds.jsonl")
	var buf strings.Builder
	langs := []string{"de", "en", "fr", "yo", "ja", "ar"}
	for i := range rows {
		fmt.Fprintf(&buf, `{"id":"r-%d","language":"%s","prompt":"Frage %d: Erkläre bitte, warum der Himmel blau ist.","response":"Weil kurzwelliges Licht stärker gestreut wird."}`+"\n", i, langs[i%len(langs)], i)
	}
	if err := os.WriteFile(path, []byte(buf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	set := &spec.SeedSet{Name: "s", Path: path, Files: []string{path}, Format: "jsonl"}
	want := 2 * rows / len(langs)
	b.Run("scan", func(b *testing.B) {
		for range b.N {
			n := 0
			err := Read(set, func(r Row) error {
				if r.Language == "de" || r.Language == "en" {
					n++
				}
				return nil
			})
			if err != nil || n != want {
				b.Fatalf("%d rows, %v", n, err)
			}
		}
	})
	b.Run("index", func(b *testing.B) {
		ix, err := NewIndex([]*spec.SeedSet{set})
		if err != nil {
			b.Fatal(err)
		}
		defer ix.Close()
		b.ResetTimer()
		for range b.N {
			n := 0
			err := ix.Each(func(c *Class) bool { return c.Language == "de" || c.Language == "en" }, func(Row) error { n++; return nil })
			if err != nil || n != want {
				b.Fatalf("%d rows, %v", n, err)
			}
		}
	})
}
