package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // reads the run's store the way a user's script would

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
)

// The tests in this file run testdata/batch (batch mode, the structured
// translate strategy, one language) through the real binary against the
// fake provider's OpenAI Batch and Anthropic Message Batches endpoints,
// and check what the provider received (batches, calls inside them) and
// what the store holds.

// batchTeachers are the spec's teachers and the fake's route for a batch
// submission to each.
var batchTeachers = []struct{ name, route string }{
	{"gpt", "openai.batches"},
	{"claude", "anthropic.batches"},
}

func batchSpec() string { return filepath.Join(repoRoot, "plugins/teachers/e2e/testdata/batch") }

// englishSeeds writes one English seed row per prompt and returns the path.
func englishSeeds(t *testing.T, prompts []string) string {
	t.Helper()
	var b strings.Builder
	for i, p := range prompts {
		row, _ := json.Marshal(map[string]string{"id": "en-" + strconv.Itoa(i), "prompt": p, "response": "-"})
		b.Write(row)
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "en.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// distinctPrompts are n English prompts, each different, so that no two
// requests share a response-cache key; every k-th (k > 0) gets suffix.
func distinctPrompts(n, k int, suffix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "Explain topic number " + strconv.Itoa(i*7919%10007) + " to a curious student."
		if k > 0 && i%k == 0 {
			out[i] += " " + suffix
		}
	}
	return out
}

func batchVars(fake *fakeprovider.Server, store, seeds string, extra ...string) []string {
	return vars(fake, store, append([]string{"seeds=" + seeds}, extra...)...)
}

func onlyGenerate(teacher string) string { return "teacher=" + teacher + ",stage=generate" }

// storeCounts reads the store's examples and failures directly.
type storeCounts struct {
	examples, distinct int
	failures           map[string]int // final failures by reason
	retrying           int
	cost               float64
	batchState         int // KV entries of batch mode left behind
}

func readStore(t *testing.T, store string) storeCounts {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(store, "polyglot.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var c storeCounts
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT key), coalesce(sum(cost_usd), 0) FROM examples`).Scan(&c.examples, &c.distinct, &c.cost); err != nil {
		t.Fatal(err)
	}
	c.failures = map[string]int{}
	rows, err := db.Query(`SELECT reason, final FROM failures`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var reason string
		var final bool
		if err := rows.Scan(&reason, &final); err != nil {
			t.Fatal(err)
		}
		if final {
			c.failures[reason]++
		} else {
			c.retrying++
		}
	}
	if err := db.QueryRow(`SELECT count(*) FROM kv WHERE ns = 'batch'`).Scan(&c.batchState); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBatchSplitsUnitIntoChunks: a unit of 9 calls with
// batch_max_requests = 3 goes to the provider as 3 batches of 3; with a
// byte cap smaller than one call (POLYGLOT_BATCH_MAX_BYTES) every call
// goes alone. Every example is stored once and a second run sends nothing.
func TestBatchSplitsUnitIntoChunks(t *testing.T) {
	splits := []struct {
		name    string
		vars    []string
		env     []string
		batches int64
	}{
		{"by count", []string{"batch_max_requests=3"}, nil, 3},
		{"by bytes", nil, []string{"POLYGLOT_BATCH_MAX_BYTES=1"}, 9},
	}
	for _, tc := range batchTeachers {
		for _, sp := range splits {
			t.Run(tc.name+"/"+sp.name, func(t *testing.T) {
				fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 5, APIKey: testKey, BatchPolls: 2})
				store := t.TempDir()
				v := batchVars(fake, store, englishSeeds(t, distinctPrompts(9, 0, "")), append([]string{"examples_per_cell=9"}, sp.vars...)...)
				o := runOpts{logLevel: "info", env: append([]string{"POLYGLOT_BATCH_POLL=20ms"}, sp.env...)}
				r := polyglot(t, o, args("run", v, batchSpec(), "--only", onlyGenerate(tc.name))...)
				if r.code != 0 {
					t.Fatalf("run failed:\n%s", tail(r.stderr, 3000))
				}
				st := fake.Stats()
				if got := st.ByRoute[tc.route]; got != sp.batches {
					t.Errorf("%d batches submitted, want %d", got, sp.batches)
				}
				if st.BatchCalls != 9 {
					t.Errorf("%d calls inside the batches, want 9", st.BatchCalls)
				}
				if n := strings.Count(r.stderr, "batch submitted"); int64(n) != sp.batches {
					t.Errorf("the log reports %d submissions, want %d", n, sp.batches)
				}
				c := readStore(t, store)
				if c.examples != 9 || c.distinct != 9 || len(c.failures) != 0 || c.retrying != 0 {
					t.Errorf("store: %d examples (%d distinct keys), failures %v, %d retrying; want 9, 9, none, 0", c.examples, c.distinct, c.failures, c.retrying)
				}
				if c.batchState != 0 {
					t.Errorf("%d batch states left in the store after every chunk was committed", c.batchState)
				}
				if r := polyglot(t, o, args("run", v, batchSpec(), "--only", onlyGenerate(tc.name))...); r.code != 0 {
					t.Fatalf("second run: %s", tail(r.stderr, 2000))
				}
				if got := fake.Stats().ByRoute[tc.route]; got != sp.batches {
					t.Errorf("a finished unit submitted again: %d batches", got)
				}
			})
		}
	}
}

// TestBatchKillResumesOnlyMissingChunks: with two chunks in flight and
// a third not yet submitted, SIGKILL; the rerun polls the two it already
// paid for and submits only the third. No call is sent twice and the
// cost equals an uninterrupted run's.
func TestBatchKillResumesOnlyMissingChunks(t *testing.T) {
	fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 9, APIKey: testKey, BatchPolls: 40})
	seeds := englishSeeds(t, distinctPrompts(9, 0, ""))
	store := t.TempDir()
	v := batchVars(fake, store, seeds, "examples_per_cell=9", "batch_max_requests=3", "concurrency=2")
	o := runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=40ms"}}
	a := args("run", v, batchSpec(), "--only", onlyGenerate("gpt"))

	cmd, out := startBackground(t, o, a...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if !waitFor(ctx, 10*time.Millisecond, func() bool {
		s := fake.Stats().ByRoute
		return s["openai.batches"] == 2 && s["openai.batch_get"] >= 4
	}) {
		t.Fatalf("two chunks were never polled: %v\n%s", fake.Stats().ByRoute, tail(out.String(), 3000))
	}
	killHard(t, cmd)
	before := fake.Stats()
	if before.ByRoute["openai.batches"] != 2 || before.BatchCalls != 6 || before.ByRoute["openai.file_content"] != 0 {
		t.Fatalf("at the kill: %v, %d calls in batches; want 2 batches of 3 calls, none ended (raise BatchPolls)", before.ByRoute, before.BatchCalls)
	}
	if c := readStore(t, store); c.batchState != 2 || c.examples != 0 {
		t.Fatalf("at the kill the store has %d batch states and %d examples, want 2 and 0", c.batchState, c.examples)
	}

	r := polyglot(t, o, a...)
	if r.code != 0 {
		t.Fatalf("the resumed run failed:\n%s", tail(r.stderr, 3000))
	}
	after := fake.Stats()
	if got := after.ByRoute["openai.batches"]; got != 3 {
		t.Errorf("%d batches in all, want 3 (2 resumed + 1 new)", got)
	}
	if after.BatchCalls != 9 {
		t.Errorf("%d calls sent in batches, want 9: something was paid for twice", after.BatchCalls)
	}
	if n := strings.Count(r.stderr, "resuming a submitted batch"); n != 2 {
		t.Errorf("the rerun resumed %d batches, want 2", n)
	}
	if n := strings.Count(r.stderr, "batch submitted"); n != 1 {
		t.Errorf("the rerun submitted %d batches, want 1", n)
	}
	resumed := readStore(t, store)
	if resumed.examples != 9 || resumed.distinct != 9 || resumed.batchState != 0 {
		t.Errorf("after the rerun: %d examples (%d distinct), %d batch states; want 9, 9, 0", resumed.examples, resumed.distinct, resumed.batchState)
	}

	// The same spec run without interruption into another store costs
	// the same: the interrupted run paid nothing twice.
	clean := t.TempDir()
	cv := batchVars(fake, clean, seeds, "examples_per_cell=9", "batch_max_requests=3", "concurrency=2")
	if r := polyglot(t, runOpts{env: []string{"POLYGLOT_BATCH_POLL=5ms"}}, args("run", cv, batchSpec(), "--only", onlyGenerate("gpt"))...); r.code != 0 {
		t.Fatalf("clean run: %s", tail(r.stderr, 2000))
	}
	want := readStore(t, clean).cost
	if want <= 0 || diffRel(resumed.cost, want) > 1e-9 {
		t.Errorf("the interrupted run cost $%.6f, an uninterrupted one $%.6f", resumed.cost, want)
	}
}

func diffRel(a, b float64) float64 {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d / max(b, 1e-12)
}

// TestBatchSharedResponseCache: a second run of the spec into another
// store with the same response cache submits no batch and pays nothing;
// a streaming run of the same spec finds the batch's answers too.
func TestBatchSharedResponseCache(t *testing.T) {
	fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 11, APIKey: testKey, BatchPolls: 1})
	seeds := englishSeeds(t, distinctPrompts(9, 0, ""))
	cache := filepath.Join(t.TempDir(), "responses.db")
	o := runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=10ms", "POLYGLOT_CACHE=" + cache}}
	run := func(store string, extra ...string) result {
		v := batchVars(fake, store, seeds, append([]string{"examples_per_cell=9", "batch_max_requests=3"}, extra...)...)
		r := polyglot(t, o, args("run", v, batchSpec(), "--only", onlyGenerate("gpt"))...)
		if r.code != 0 {
			t.Fatalf("run into %s failed:\n%s", store, tail(r.stderr, 3000))
		}
		return r
	}

	first := t.TempDir()
	run(first)
	if got := fake.Stats().ByRoute["openai.batches"]; got != 3 {
		t.Fatalf("first run: %d batches, want 3", got)
	}
	firstCost := readStore(t, first).cost

	second := t.TempDir()
	r := run(second)
	st := fake.Stats()
	if got := st.ByRoute["openai.batches"]; got != 3 || st.BatchCalls != 9 {
		t.Errorf("the cached run submitted batches: %d in all (want 3), %d calls (want 9)", got, st.BatchCalls)
	}
	if !strings.Contains(r.stderr, "answers taken from the response cache") {
		t.Errorf("the cached run does not say it used the cache:\n%s", tail(r.stderr, 2000))
	}
	c := readStore(t, second)
	if c.examples != 9 || c.cost != 0 {
		t.Errorf("cached run: %d examples costing $%g, want 9 costing nothing (the first paid $%g)", c.examples, c.cost, firstCost)
	}

	// Streaming and batch share the cache key: no chat call is made.
	third := t.TempDir()
	run(third, "batch=false")
	if got := fake.Stats().ByRoute["openai.chat"]; got != 0 {
		t.Errorf("a streaming run of the same spec sent %d chat calls; the batch answers should have served them", got)
	}
	if c := readStore(t, third); c.examples != 9 {
		t.Errorf("streaming run from the cache: %d examples, want 9", c.examples)
	}
}

// TestBatchReasksUnusableAnswers: the fake answers 3 of 9 calls with
// broken JSON. With reasks = 1 those 3 go out again in a second batch of
// the chunk and are produced; with reasks = 0 they are final failures
// with the parse error as the reason, and no second batch is sent.
func TestBatchReasksUnusableAnswers(t *testing.T) {
	cases := []struct {
		reasks                  int
		batches, calls          int64
		examples, parseFailures int
	}{
		{reasks: 1, batches: 2, calls: 12, examples: 9},
		{reasks: 0, batches: 1, calls: 9, examples: 6, parseFailures: 3},
	}
	for _, tc := range batchTeachers {
		for _, c := range cases {
			t.Run(tc.name+"/reasks="+strconv.Itoa(c.reasks), func(t *testing.T) {
				fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 13, APIKey: testKey, BatchPolls: 1})
				store := t.TempDir()
				v := batchVars(fake, store, englishSeeds(t, distinctPrompts(9, 3, "[[fault:malformed]]")), "examples_per_cell=9", "reasks="+strconv.Itoa(c.reasks))
				r := polyglot(t, runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=10ms"}}, args("run", v, batchSpec(), "--only", onlyGenerate(tc.name))...)
				if r.code != 0 {
					t.Fatalf("run failed:\n%s", tail(r.stderr, 3000))
				}
				st := fake.Stats()
				if got := st.ByRoute[tc.route]; got != c.batches || st.BatchCalls != c.calls {
					t.Errorf("%d batches with %d calls, want %d with %d", got, st.BatchCalls, c.batches, c.calls)
				}
				if got := st.Faults[fakeprovider.FaultMalformed]; got != 3 {
					t.Errorf("the fake broke %d answers, want 3", got)
				}
				s := readStore(t, store)
				if s.examples != c.examples || s.failures["parse_error"] != c.parseFailures || s.retrying != 0 || s.batchState != 0 {
					t.Errorf("store: %d examples, failures %v, %d retrying, %d batch states; want %d examples, %d parse_error", s.examples, s.failures, s.retrying, s.batchState, c.examples, c.parseFailures)
				}
				if c.reasks > 0 && !strings.Contains(r.stderr, "re-asking unusable answers in a new batch") {
					t.Errorf("the log does not mention the re-ask batch:\n%s", tail(r.stderr, 2000))
				}
			})
		}
	}
}

// TestBatchBudgetStopsBetweenChunks: each chunk reserves its estimate
// (3 calls x 1,000 max tokens at $10/M output = $0.03) and bills about
// $0.018 (600-word answers). Under a $0.05 budget the second chunk waits
// for the first to settle and fits; the third does not, so the run stops
// with both sent chunks committed and says why. A run with a larger
// budget sends only the third.
func TestBatchBudgetStopsBetweenChunks(t *testing.T) {
	fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 17, APIKey: testKey, BatchPolls: 2})
	seeds := englishSeeds(t, distinctPrompts(9, 1, "[[words:600]]"))
	store := t.TempDir()
	common := []string{"examples_per_cell=9", "batch_max_requests=3", "concurrency=2", "input_per_mtok=0", "max_tokens=1000"}
	o := runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=10ms"}}

	r := polyglot(t, o, args("run", batchVars(fake, store, seeds, append(common, "budget_usd=0.05")...), batchSpec(), "--only", onlyGenerate("gpt"))...)
	if r.code == 0 {
		t.Fatal("the run went past its budget")
	}
	for _, want := range []string{"spending budget reached", "batch chunk", "everything so far is saved", "Raise budget_usd"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the error does not say %q:\n%s", want, tail(r.stderr, 2000))
		}
	}
	st := fake.Stats()
	if got := st.ByRoute["openai.batches"]; got != 2 || st.BatchCalls != 6 {
		t.Errorf("%d batches with %d calls sent under the budget, want 2 with 6", got, st.BatchCalls)
	}
	c := readStore(t, store)
	if c.examples != 6 || c.retrying != 0 || len(c.failures) != 0 || c.batchState != 0 {
		t.Errorf("after the budget stop: %d examples, %d retrying, failures %v, %d batch states; want 6 committed and nothing pending", c.examples, c.retrying, c.failures, c.batchState)
	}
	if c.cost > 0.05 {
		t.Errorf("spent $%g over a $0.05 budget", c.cost)
	}

	r = polyglot(t, o, args("run", batchVars(fake, store, seeds, append(common, "budget_usd=1")...), batchSpec(), "--only", onlyGenerate("gpt"))...)
	if r.code != 0 {
		t.Fatalf("the run with a raised budget failed:\n%s", tail(r.stderr, 2000))
	}
	if st := fake.Stats(); st.ByRoute["openai.batches"] != 3 || st.BatchCalls != 9 {
		t.Errorf("after raising the budget: %d batches with %d calls, want 3 with 9", st.ByRoute["openai.batches"], st.BatchCalls)
	}
	if c := readStore(t, store); c.examples != 9 {
		t.Errorf("%d examples after raising the budget, want 9", c.examples)
	}
}

// TestBatchKillDuringReaskRound: SIGKILL while the re-ask batch of a
// chunk is at the provider. The rerun polls that batch (round 1, ids with
// the round) instead of sending the first round or the re-asks again, and
// the re-asked examples carry the first round's cost, like an
// uninterrupted run's.
func TestBatchKillDuringReaskRound(t *testing.T) {
	fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 19, APIKey: testKey, BatchPolls: 30})
	seeds := englishSeeds(t, distinctPrompts(9, 3, "[[fault:malformed]]"))
	store := t.TempDir()
	o := runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=20ms"}}
	a := args("run", batchVars(fake, store, seeds, "examples_per_cell=9", "reasks=1"), batchSpec(), "--only", onlyGenerate("gpt"))

	cmd, out := startBackground(t, o, a...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if !waitFor(ctx, 10*time.Millisecond, func() bool {
		s := fake.Stats().ByRoute
		return s["openai.batches"] == 2 && s["openai.batch_get"] >= 34
	}) {
		t.Fatalf("the re-ask batch was never polled: %v\n%s", fake.Stats().ByRoute, tail(out.String(), 3000))
	}
	killHard(t, cmd)
	if c := readStore(t, store); c.examples != 6 || c.batchState != 1 {
		t.Fatalf("at the kill: %d examples and %d batch states, want 6 (first round) and 1 (the re-ask batch)", c.examples, c.batchState)
	}

	r := polyglot(t, o, a...)
	if r.code != 0 {
		t.Fatalf("the resumed run failed:\n%s", tail(r.stderr, 3000))
	}
	st := fake.Stats()
	if got := st.ByRoute["openai.batches"]; got != 2 || st.BatchCalls != 12 {
		t.Errorf("%d batches with %d calls in all, want 2 with 12 (9 asks + 3 re-asks)", got, st.BatchCalls)
	}
	if n := strings.Count(r.stderr, "resuming a submitted batch"); n != 1 {
		t.Errorf("the rerun resumed %d batches, want 1", n)
	}
	resumed := readStore(t, store)
	if resumed.examples != 9 || len(resumed.failures) != 0 || resumed.batchState != 0 {
		t.Errorf("after the rerun: %d examples, failures %v, %d batch states; want 9, none, 0", resumed.examples, resumed.failures, resumed.batchState)
	}

	clean := t.TempDir()
	if r := polyglot(t, runOpts{env: []string{"POLYGLOT_BATCH_POLL=5ms"}}, args("run", batchVars(fake, clean, seeds, "examples_per_cell=9", "reasks=1"), batchSpec(), "--only", onlyGenerate("gpt"))...); r.code != 0 {
		t.Fatalf("clean run: %s", tail(r.stderr, 2000))
	}
	if want := readStore(t, clean).cost; want <= 0 || diffRel(resumed.cost, want) > 1e-9 {
		t.Errorf("the interrupted run's examples cost $%.6f, an uninterrupted run's $%.6f", resumed.cost, want)
	}
}
