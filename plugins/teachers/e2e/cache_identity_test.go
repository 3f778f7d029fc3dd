package e2e

import (
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
)

// The tests in this file check what the response cache may serve: only
// the same request (its index, seed row and experiment seed) of the same
// plugin build, and that an answer it serves keeps its tokens and counts
// its cost as saved, not spent.

// spend is what a store's examples hold about their cost.
type spend struct {
	examples       int
	tokens         int64
	cost, saved    float64
	cached, totals int64 // cached calls in the examples, and in cell_totals
}

func readSpend(t *testing.T, store string) spend {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(store, "polyglot.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s spend
	if err := db.QueryRow(`SELECT count(*), coalesce(sum(input_tokens + output_tokens), 0), coalesce(sum(cost_usd), 0), coalesce(sum(saved_usd), 0), coalesce(sum(cached_calls), 0) FROM examples`).
		Scan(&s.examples, &s.tokens, &s.cost, &s.saved, &s.cached); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT coalesce(sum(cached_calls), 0) FROM cell_totals`).Scan(&s.totals); err != nil {
		t.Fatal(err)
	}
	return s
}

// cacheModes are the two paths that share the response cache, and the
// fake's counter of the calls each sends.
var cacheModes = []struct {
	name  string
	vars  []string
	calls func(fakeprovider.Stats) int64
}{
	{"streaming", []string{"batch=false"}, func(s fakeprovider.Stats) int64 { return s.ByRoute["openai.chat"] }},
	{"batch", []string{"batch=true", "batch_max_requests=3"}, func(s fakeprovider.Stats) int64 { return s.BatchCalls }},
}

// TestCacheKeepsRequestsApart: three seed prompts make nine requests, each
// prompt asked three times. A first run asks for requests 0-2 (one per
// prompt); a run of all nine into another store with the same cache gets
// 0-2 from the cache and must ask the provider for 3-8, whose prompts it
// has cached answers for but which are other requests (the old key, the
// prompt alone, gave every repeat the first answer and sent nothing). A
// third run of the nine sends nothing, spends nothing, keeps every
// answer's tokens and reports the first two runs' cost as saved.
func TestCacheKeepsRequestsApart(t *testing.T) {
	for _, m := range cacheModes {
		t.Run(m.name, func(t *testing.T) {
			fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 23, APIKey: testKey, BatchPolls: 1})
			seeds := englishSeeds(t, distinctPrompts(3, 0, ""))
			cache := filepath.Join(t.TempDir(), "responses.db")
			o := runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=10ms", "POLYGLOT_CACHE=" + cache}}
			run := func(store string, n int) (int64, result) {
				t.Helper()
				before := m.calls(fake.Stats())
				v := batchVars(fake, store, seeds, append([]string{"examples_per_cell=" + itoa(n), "concurrency=1"}, m.vars...)...)
				r := polyglot(t, o, args("run", v, batchSpec(), "--only", onlyGenerate("gpt"))...)
				if r.code != 0 {
					t.Fatalf("run of %d into %s failed:\n%s", n, store, tail(r.stderr, 3000))
				}
				return m.calls(fake.Stats()) - before, r
			}
			first := t.TempDir()
			if calls, _ := run(first, 3); calls != 3 {
				t.Fatalf("first run sent %d calls, want 3", calls)
			}
			second := t.TempDir()
			if calls, _ := run(second, 9); calls != 6 {
				t.Errorf("run of 9 requests after 3 were cached sent %d calls, want 6: requests 3-8 repeat the prompts of 0-2 but are other requests", calls)
			}
			if calls, _ := run(second, 9); calls != 0 {
				t.Errorf("rerun into the same store sent %d calls, want 0", calls)
			}
			paid := readSpend(t, first).cost + readSpend(t, second).cost
			s2 := readSpend(t, second)
			if s2.examples != 9 || s2.cached != 3 {
				t.Errorf("second store: %d examples, %d from the cache; want 9 and 3", s2.examples, s2.cached)
			}
			third := t.TempDir()
			calls, r := run(third, 9)
			if calls != 0 {
				t.Errorf("run into a new store with every request cached sent %d calls, want 0", calls)
			}
			s3 := readSpend(t, third)
			if s3.examples != 9 || s3.cost != 0 || s3.cached != 9 || s3.totals != 9 {
				t.Errorf("cached run: %d examples, $%g spent, %d cached calls (%d in the totals); want 9, $0, 9, 9", s3.examples, s3.cost, s3.cached, s3.totals)
			}
			if s3.tokens != s2.tokens || s3.tokens == 0 {
				t.Errorf("cached run's examples hold %d tokens, want the answers' own %d", s3.tokens, s2.tokens)
			}
			if paid <= 0 || diffRel(s3.saved, paid) > 1e-9 {
				t.Errorf("cached run saved $%g, want what the answers cost: $%g", s3.saved, paid)
			}
			if !strings.Contains(r.stderr, "the response cache answered 9 calls") || !strings.Contains(r.stderr, "Spent $0.0000 in this run") {
				t.Errorf("the cached run does not report its spend and the cache's saving apart:\n%s", tail(r.stderr, 2000))
			}
		})
	}
}

// TestCacheRebuiltPluginAsksAgain: the same spec run with a rebuilt
// polyglot (its built-in OpenAI plugin is another binary, here the same
// executable with a byte appended) must not get the first build's
// answers; a second run of the rebuilt binary gets its own.
func TestCacheRebuiltPluginAsksAgain(t *testing.T) {
	fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 29, APIKey: testKey})
	seeds := englishSeeds(t, distinctPrompts(3, 0, ""))
	cache := filepath.Join(t.TempDir(), "responses.db")
	rebuilt := filepath.Join(t.TempDir(), "polyglot")
	copyFile(t, polyglotBin, rebuilt)
	f, err := os.OpenFile(rebuilt, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run := func(bin, store string) int64 {
		t.Helper()
		before := fake.Stats().ByRoute["openai.chat"]
		o := runOpts{logLevel: "info", bin: bin, env: []string{"POLYGLOT_CACHE=" + cache}}
		v := batchVars(fake, store, seeds, "examples_per_cell=3", "batch=false")
		r := polyglot(t, o, args("run", v, batchSpec(), "--only", onlyGenerate("gpt"))...)
		if r.code != 0 {
			t.Fatalf("run of %s into %s failed:\n%s", bin, store, tail(r.stderr, 3000))
		}
		return fake.Stats().ByRoute["openai.chat"] - before
	}
	if calls := run(polyglotBin, t.TempDir()); calls != 3 {
		t.Fatalf("first build sent %d calls, want 3", calls)
	}
	if calls := run(rebuilt, t.TempDir()); calls != 3 {
		t.Errorf("the rebuilt plugin sent %d calls, want 3: the first build's cached answers are not its own", calls)
	}
	if calls := run(rebuilt, t.TempDir()); calls != 0 {
		t.Errorf("the rebuilt plugin's second run sent %d calls, want 0 (its own answers are cached)", calls)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
