package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkWriterGroupCommit writes examples the way the generate stage
// does: groups of 32 (a teacher's concurrency) committed together, rows
// the size of a short chat answer. One op is one example.
func BenchmarkWriterGroupCommit(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w := s.NewWriter(WriterOptions{})
	defer w.Close()
	unit := strings.Repeat("u", 64)
	params := json.RawMessage(`{"temperature":0.7,"top_p":0.95,"max_tokens":64}`)
	resp := strings.Repeat("Eine kurze Antwort auf Deutsch. ", 10)
	const group = 32
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := &Example{Key: fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15), Unit: unit, Teacher: "gpt", Model: "gpt-fake-1", Language: "de", Strategy: "respond",
			SeedRowID: fmt.Sprintf("de-%d", i), Idx: i, Prompt: fmt.Sprintf("Frage %d: erkläre Thema %d.", i, i*7919%10007), Response: resp,
			Params: params, InputTokens: 40, OutputTokens: 80, Latency: time.Millisecond}
		if err := w.Example(e); err != nil {
			b.Fatal(err)
		}
		if i%group == group-1 {
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCacheFile measures the response cache as a generation run uses
// it, in a shared cache file that already holds cacheBenchPrefill answers:
// each op is one request's lookup (a miss, in groups of 128 as the engine's
// lookup loop sends them) and then its answer written (in groups of 1024).
func BenchmarkCacheFile(b *testing.B) {
	c, err := OpenCache(b.TempDir() + "/responses.db")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	value := []byte(`{"id":"x","text":"` + strings.Repeat("Eine kurze Antwort auf Deutsch. ", 10) + `","finish_reason":"stop","usage":{"input_tokens":40,"output_tokens":80},"latency":1000000,"model":"gpt-fake-1"}`)
	key := func(i int) string {
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		return hex.EncodeToString(h[:])
	}
	put := func(from, to int) {
		var batch []CacheEntry
		for i := from; i < to; i++ {
			batch = append(batch, CacheEntry{Hash: key(i), Value: value})
			if len(batch) == 1024 || i == to-1 {
				if err := c.CachePutMany(batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	put(0, cacheBenchPrefill)
	b.ReportAllocs()
	b.ResetTimer()
	next := cacheBenchPrefill
	for done := 0; done < b.N; {
		n := min(1024, b.N-done)
		for g := 0; g < n; g += 128 {
			hashes := make([]string, 0, 128)
			for i := g; i < min(g+128, n); i++ {
				hashes = append(hashes, key(next+i))
			}
			found, err := c.CacheGetMany(hashes)
			if err != nil || len(found) != 0 {
				b.Fatalf("lookup of new keys: %d found, %v", len(found), err)
			}
		}
		put(next, next+n)
		next += n
		done += n
	}
	b.StopTimer()
	// The answers written are found again.
	found, err := c.CacheGetMany([]string{key(0), key(next - 1)})
	if err != nil || len(found) != 2 || string(found[key(next-1)]) != string(value) {
		b.Fatalf("written answers not found: %d, %v", len(found), err)
	}
}

const cacheBenchPrefill = 100_000

// BenchmarkOpenQuickCheck measures what Open's quick check costs on a
// large store: Open without the check, then with it, on one store of
// POLYGLOT_BENCH_STORE_EXAMPLES examples (default 200,000, ~1 KB each).
// The file was just written, so its pages are in the OS cache; a cold
// cache adds the time to read the file once.
func BenchmarkOpenQuickCheck(b *testing.B) {
	n := 200000
	if v, err := strconv.Atoi(os.Getenv("POLYGLOT_BENCH_STORE_EXAMPLES")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	w := s.NewWriter(WriterOptions{})
	resp := strings.Repeat("Eine kurze Antwort auf Deutsch. ", 30)
	for i := 0; i < n; i++ {
		e := &Example{Key: fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15), Unit: "u", Teacher: "gpt", Model: "m", Language: "de", Strategy: "respond",
			SeedRowID: fmt.Sprintf("de-%d", i), Idx: i, Prompt: fmt.Sprintf("Frage %d", i), Response: resp, InputTokens: 40, OutputTokens: 80, Latency: time.Millisecond}
		if err := w.Example(e); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	s.Close()
	if fi, err := os.Stat(filepath.Join(dir, DBName)); err == nil {
		b.Logf("store: %d examples, %d MiB", n, fi.Size()>>20)
	}
	for _, check := range []bool{false, true} {
		name := "open"
		if check {
			name = "open+quick_check"
		}
		b.Run(name, func(b *testing.B) {
			quickCheckOnOpen = check
			defer func() { quickCheckOnOpen = true }()
			for b.Loop() {
				s, err := Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}
