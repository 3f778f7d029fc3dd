package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
)

// The tests in this file run testdata/specs/teachers/batch-multistep (a
// two-step strategy: a JSON "draft" step, then a text "polish" step on the
// draft's answer) in batch mode against the fake provider's OpenAI Batch
// and Anthropic Message Batches endpoints (the spec's provider variable).
// A call's custom_id says its step and ask (r<i>, r<i>-s1, r<i>-a1, ...,
// behind the plugin's prefix), so the fake's record of each batch's ids
// shows which step each submission carried.

func multiStepSpec() string { return filepath.Join(specDir, "batch-multistep") }

// msProvider is a provider the multi-step spec's teacher "batcher" can
// use, with the fake's routes for it.
type msProvider struct {
	name string // the spec's provider variable (the plugin)
	// submit, poll and results are the fake's routes for a batch
	// submission, a status request and a results download; chat is one
	// streaming call's.
	submit, poll, results, chat string
}

var msProviders = []msProvider{
	{"openai", "openai.batches", "openai.batch_get", "openai.file_content", "openai.chat"},
	{"anthropic", "anthropic.batches", "anthropic.batch_get", "anthropic.batch_results", "anthropic.messages"},
}

// germanSeeds writes n German seed rows, each prompt different; every k-th
// (k > 0) gets suffix.
func germanSeeds(t *testing.T, n, k int, suffix string) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		p := "Erkläre Thema Nummer " + strconv.Itoa(i*7919%10007) + " einer neugierigen Schülerin."
		if k > 0 && i%k == 0 {
			p += " " + suffix
		}
		row, _ := json.Marshal(map[string]string{"id": "de-" + strconv.Itoa(i), "prompt": p, "response": "-"})
		b.Write(row)
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "de.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// exampleRow is what a stored example says, keyed by request index and
// seed row (request keys include the unit key, which changes with the
// teacher's batch setting).
type exampleRow struct {
	Prompt, Response string
	In, Out          int
	Cost             float64
}

func readExamples(t *testing.T, store string) map[string]exampleRow {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(store, "polyglot.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT idx || '/' || seed_row_id, prompt, response, input_tokens, output_tokens, cost_usd FROM examples`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]exampleRow{}
	for rows.Next() {
		var k string
		var e exampleRow
		if err := rows.Scan(&k, &e.Prompt, &e.Response, &e.In, &e.Out, &e.Cost); err != nil {
			t.Fatal(err)
		}
		out[k] = e
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameExamples reports how got differs from want (prompt, response,
// tokens, cost), or "".
func sameExamples(got, want map[string]exampleRow) string {
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, k+": missing")
		case g.Prompt != w.Prompt || g.Response != w.Response:
			diffs = append(diffs, k+": ("+g.Prompt+" | "+g.Response+") want ("+w.Prompt+" | "+w.Response+")")
		case g.In != w.In || g.Out != w.Out || diffRel(g.Cost, w.Cost) > 1e-9:
			diffs = append(diffs, k+": usage "+strconv.Itoa(g.In)+"/"+strconv.Itoa(g.Out)+" $"+strconv.FormatFloat(g.Cost, 'g', -1, 64)+
				", want "+strconv.Itoa(w.In)+"/"+strconv.Itoa(w.Out)+" $"+strconv.FormatFloat(w.Cost, 'g', -1, 64))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, k+": not expected")
		}
	}
	return strings.Join(diffs, "\n")
}

// callStep parses a batch custom_id into request index, step and ask:
// "r3-s1-a2" behind the OpenAI plugin's "t:" or "j:" or the Anthropic
// plugin's "t" or "j" (call IDs all start with "r").
func callStep(t *testing.T, id string) (idx, step, ask int) {
	t.Helper()
	id = strings.TrimLeft(id, "jt:")
	parts := strings.Split(strings.TrimPrefix(id, "r"), "-")
	var err error
	if idx, err = strconv.Atoi(parts[0]); err != nil {
		t.Fatalf("custom_id %q: %v", id, err)
	}
	for _, p := range parts[1:] {
		n, err := strconv.Atoi(p[1:])
		if err != nil {
			t.Fatalf("custom_id %q: %v", id, err)
		}
		switch p[0] {
		case 's':
			step = n
		case 'a':
			ask = n
		default:
			t.Fatalf("custom_id %q: unknown part %q", id, p)
		}
	}
	return idx, step, ask
}

// batchSteps is, per submitted batch, how many calls it held at each
// (step, ask), e.g. "s0a0=3" or "s0a1=2,s1a0=4".
func batchSteps(t *testing.T, batches [][]string) []string {
	var out []string
	for _, ids := range batches {
		n := map[[2]int]int{}
		for _, id := range ids {
			_, s, a := callStep(t, id)
			n[[2]int{s, a}]++
		}
		var parts []string
		for s := range 3 {
			for a := range 3 {
				if c := n[[2]int{s, a}]; c > 0 {
					parts = append(parts, "s"+strconv.Itoa(s)+"a"+strconv.Itoa(a)+"="+strconv.Itoa(c))
				}
			}
		}
		out = append(out, strings.Join(parts, ","))
	}
	return out
}

// msArgs are the arguments of a run of the multi-step spec's batcher
// cells on provider p.
func msArgs(p msProvider, fake *fakeprovider.Server, store, seeds string, extra ...string) []string {
	return args("run", vars(fake, store, append([]string{"seeds=" + seeds, "provider=" + p.name}, extra...)...), multiStepSpec(), "--only", onlyGenerate("batcher"))
}

func msRun(t *testing.T, o runOpts, p msProvider, fake *fakeprovider.Server, store, seeds string, extra ...string) result {
	t.Helper()
	return polyglot(t, o, msArgs(p, fake, store, seeds, extra...)...)
}

// TestBatchMultiStepMatchesStreaming: 6 requests in chunks of 3 go out as
// 4 batches (per chunk: the draft step, then the polish step), every
// request is produced, and the examples (prompt, response, tokens, cost)
// equal those of a streaming run of the same spec. A second batch run
// sends nothing. For each provider.
func TestBatchMultiStepMatchesStreaming(t *testing.T) {
	for _, p := range msProviders {
		t.Run(p.name, func(t *testing.T) { testMultiStepMatchesStreaming(t, p) })
	}
}

func testMultiStepMatchesStreaming(t *testing.T, p msProvider) {
	fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 21, APIKey: testKey, BatchPolls: 1})
	seeds := germanSeeds(t, 6, 0, "")
	o := runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=10ms"}}
	store := t.TempDir()
	common := []string{"examples_per_cell=6", "batch_max_requests=3"}
	r := msRun(t, o, p, fake, store, seeds, common...)
	if r.code != 0 {
		t.Fatalf("batch run failed:\n%s", tail(r.stderr, 3000))
	}
	st := fake.Stats()
	steps := batchSteps(t, st.Batches)
	want := map[string]int{"s0a0=3": 2, "s1a0=3": 2}
	got := map[string]int{}
	for _, s := range steps {
		got[s]++
	}
	if len(steps) != 4 || got["s0a0=3"] != want["s0a0=3"] || got["s1a0=3"] != want["s1a0=3"] {
		t.Errorf("batches by step and ask: %v; want two draft batches of 3 and two polish batches of 3", steps)
	}
	if st.ByRoute[p.chat] != 0 || st.ByRoute[p.submit] != 4 || st.Rejected != 0 {
		t.Errorf("%d chat calls in batch mode, %d submissions to %s (want 4), %d rejected requests: %v", st.ByRoute[p.chat], st.ByRoute[p.submit], p.submit, st.Rejected, st.Rejections)
	}
	c := readStore(t, store)
	if c.examples != 6 || len(c.failures) != 0 || c.retrying != 0 || c.batchState != 0 {
		t.Errorf("store: %d examples, failures %v, %d retrying, %d batch states; want 6, none, 0, 0", c.examples, c.failures, c.retrying, c.batchState)
	}
	batchEx := readExamples(t, store)

	if r := msRun(t, o, p, fake, store, seeds, common...); r.code != 0 {
		t.Fatalf("second batch run: %s", tail(r.stderr, 2000))
	}
	if n := len(fake.Stats().Batches); n != 4 {
		t.Errorf("a finished unit submitted again: %d batches", n)
	}

	streamStore := t.TempDir()
	if r := msRun(t, o, p, fake, streamStore, seeds, append(common, "batch=false")...); r.code != 0 {
		t.Fatalf("streaming run failed:\n%s", tail(r.stderr, 3000))
	}
	if n := fake.Stats().ByRoute[p.chat]; n != 12 {
		t.Errorf("the streaming run made %d chat calls, want 12 (6 requests x 2 steps)", n)
	}
	streamEx := readExamples(t, streamStore)
	if len(streamEx) != 6 {
		t.Fatalf("the streaming run stored %d examples, want 6", len(streamEx))
	}
	if d := sameExamples(batchEx, streamEx); d != "" {
		t.Errorf("batch examples differ from streaming ones:\n%s", d)
	}
	for k, e := range batchEx {
		if e.Prompt == "" || e.Response == "" || strings.Contains(e.Response, "{") {
			t.Errorf("%s: prompt %q, response %q; want the draft's prompt and the polished text", k, e.Prompt, e.Response)
		}
	}
}

// TestBatchMultiStepKillResumesAtStep: SIGKILL while the draft batch is
// at the provider, or while the polish batch is. The rerun polls the batch
// it paid for and then submits only what is left: after a kill in the
// draft step, one batch holding only polish calls; after a kill in the
// polish step, nothing. The examples and their total cost equal an
// uninterrupted run's. For each provider.
func TestBatchMultiStepKillResumesAtStep(t *testing.T) {
	const polls = 25
	for _, tc := range []struct {
		name      string
		atKill    int      // batches submitted when the kill comes
		rerunSent []string // batches the rerun submits, by step and ask
	}{
		{"kill in draft step", 1, []string{"s1a0=4"}},
		{"kill in polish step", 2, nil},
	} {
		for _, p := range msProviders {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 23, APIKey: testKey, BatchPolls: polls})
				seeds := germanSeeds(t, 4, 0, "")
				store := t.TempDir()
				o := runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=20ms"}}
				cmd, out := startBackground(t, o, msArgs(p, fake, store, seeds)...)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				// The tc.atKill-th batch has been polled a few times: earlier
				// ones took polls+1 status requests each.
				if !waitFor(ctx, 10*time.Millisecond, func() bool {
					s := fake.Stats().ByRoute
					return s[p.submit] == int64(tc.atKill) && s[p.poll] >= int64((tc.atKill-1)*(polls+1)+3)
				}) {
					t.Fatalf("batch %d was never polled: %v\n%s", tc.atKill, fake.Stats().ByRoute, tail(out.String(), 3000))
				}
				killHard(t, cmd)
				before := fake.Stats()
				if len(before.Batches) != tc.atKill || before.ByRoute[p.results] != int64(tc.atKill-1) {
					t.Fatalf("at the kill: %d batches, %d results fetched; want %d and %d (raise polls)", len(before.Batches), before.ByRoute[p.results], tc.atKill, tc.atKill-1)
				}
				if c := readStore(t, store); c.examples != 0 || c.batchState != 1 {
					t.Fatalf("at the kill: %d examples, %d batch states; want 0 and 1", c.examples, c.batchState)
				}

				r := polyglot(t, o, msArgs(p, fake, store, seeds)...)
				if r.code != 0 {
					t.Fatalf("the resumed run failed:\n%s", tail(r.stderr, 3000))
				}
				after := fake.Stats()
				sent := batchSteps(t, after.Batches[tc.atKill:])
				if strings.Join(sent, " ") != strings.Join(tc.rerunSent, " ") {
					t.Errorf("the rerun submitted %v, want %v", sent, tc.rerunSent)
				}
				if after.BatchCalls != 8 {
					t.Errorf("%d calls in batches, want 8 (4 drafts + 4 polishes): a step was paid for twice", after.BatchCalls)
				}
				if n := strings.Count(r.stderr, "resuming a submitted batch"); n != 1 {
					t.Errorf("the rerun resumed %d batches, want 1", n)
				}
				c := readStore(t, store)
				if c.examples != 4 || len(c.failures) != 0 || c.retrying != 0 || c.batchState != 0 {
					t.Errorf("after the rerun: %d examples, failures %v, %d retrying, %d batch states; want 4, none, 0, 0", c.examples, c.failures, c.retrying, c.batchState)
				}

				clean := t.TempDir()
				if r := polyglot(t, runOpts{env: []string{"POLYGLOT_BATCH_POLL=2ms"}}, msArgs(p, fake, clean, seeds)...); r.code != 0 {
					t.Fatalf("clean run: %s", tail(r.stderr, 2000))
				}
				want := readExamples(t, clean)
				if d := sameExamples(readExamples(t, store), want); d != "" {
					t.Errorf("the resumed run's examples differ from an uninterrupted run's:\n%s", d)
				}
				if w := readStore(t, clean).cost; w <= 0 || diffRel(c.cost, w) > 1e-9 {
					t.Errorf("the interrupted run cost $%.6f, an uninterrupted one $%.6f", c.cost, w)
				}
			})
		}
	}
}

// TestBatchMultiStepReasksBeforeNextStep: 2 of 6 draft answers are broken
// JSON. With reasks = 1 they are asked again (at the draft step) in the
// chunk's second batch, next to the polish calls of the other 4, and move
// to the polish step only in a third batch; all 6 are produced. With
// reasks = 0 they are final parse_error failures and never reach the
// polish step. For each provider.
func TestBatchMultiStepReasksBeforeNextStep(t *testing.T) {
	for _, tc := range []struct {
		reasks   int
		batches  []string
		examples int
		parse    int
	}{
		{1, []string{"s0a0=6", "s0a1=2,s1a0=4", "s1a0=2"}, 6, 0},
		{0, []string{"s0a0=6", "s1a0=4"}, 4, 2},
	} {
		for _, p := range msProviders {
			t.Run(p.name+"/reasks="+strconv.Itoa(tc.reasks), func(t *testing.T) {
				fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 29, APIKey: testKey, BatchPolls: 1})
				store := t.TempDir()
				r := msRun(t, runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=10ms"}}, p, fake, store,
					germanSeeds(t, 6, 3, "[[fault:malformed]]"), "examples_per_cell=6", "reasks="+strconv.Itoa(tc.reasks))
				if r.code != 0 {
					t.Fatalf("run failed:\n%s", tail(r.stderr, 3000))
				}
				st := fake.Stats()
				if got := batchSteps(t, st.Batches); strings.Join(got, " ") != strings.Join(tc.batches, " ") {
					t.Errorf("batches by step and ask: %v, want %v", got, tc.batches)
				}
				if got := st.Faults[fakeprovider.FaultMalformed]; got != 2 {
					t.Errorf("the fake broke %d answers, want 2", got)
				}
				if tc.reasks > 0 && len(st.Batches) == 3 {
					// The requests re-asked in batch 2 are the ones polished in batch 3.
					var reasked, late []int
					for _, id := range st.Batches[1] {
						if i, _, a := callStep(t, id); a == 1 {
							reasked = append(reasked, i)
						}
					}
					for _, id := range st.Batches[2] {
						i, _, _ := callStep(t, id)
						late = append(late, i)
					}
					slices.Sort(reasked)
					slices.Sort(late)
					if len(reasked) != 2 || !slices.Equal(reasked, late) {
						t.Errorf("re-asked %v in batch 2, polished %v in batch 3; want the same requests", reasked, late)
					}
				}
				c := readStore(t, store)
				if c.examples != tc.examples || c.failures["parse_error"] != tc.parse || c.retrying != 0 || c.batchState != 0 {
					t.Errorf("store: %d examples, failures %v, %d retrying, %d batch states; want %d examples, %d parse_error", c.examples, c.failures, c.retrying, c.batchState, tc.examples, tc.parse)
				}
			})
		}
	}
}

// TestBatchModeRefusesStepOnOtherTeacher: a step that calls another
// teacher cannot go into the cell's batch: a clear error when the spec is
// loaded, at the step's teacher attribute, naming the step and teacher
// and what to change, and nothing is sent.
func TestBatchModeRefusesStepOnOtherTeacher(t *testing.T) {
	fake := fakeprovider.Start(t, fakeprovider.Options{APIKey: testKey})
	r := msRun(t, runOpts{}, msProviders[0], fake, t.TempDir(), germanSeeds(t, 2, 0, ""), "examples_per_cell=2", "polish_teacher=claude")
	if r.code == 0 {
		t.Fatal("a step on another teacher ran in batch mode")
	}
	for _, want := range []string{`experiment.hcl:`, `step "polish" of strategy "draft-then-polish" calls teacher "claude"`, `teacher = "self"`, `batch = false on teacher "batcher"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the error does not say %q:\n%s", want, tail(r.stderr, 2000))
		}
	}
	if n := fake.Stats().Requests; n != 0 {
		t.Errorf("the fake got %d requests", n)
	}
}

// TestBatchMultiStepSharedResponseCache: both steps' answers go into the
// response cache under the streaming path's keys. A second batch run into
// another store finds the draft answers, moves each request on to its
// polish call, finds that too, and submits nothing; a streaming run makes
// no chat call. Both store the first run's examples with their tokens, at
// no cost.
func TestBatchMultiStepSharedResponseCache(t *testing.T) {
	p := msProviders[0]
	fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 31, APIKey: testKey, BatchPolls: 1})
	seeds := germanSeeds(t, 4, 0, "")
	cache := filepath.Join(t.TempDir(), "responses.db")
	o := runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=10ms", "POLYGLOT_CACHE=" + cache}}
	first := t.TempDir()
	if r := msRun(t, o, p, fake, first, seeds); r.code != 0 {
		t.Fatalf("first run failed:\n%s", tail(r.stderr, 3000))
	}
	if n := len(fake.Stats().Batches); n != 2 {
		t.Fatalf("first run: %d batches, want 2", n)
	}
	want := readExamples(t, first)
	for k, e := range want {
		e.Cost = 0 // cached answers keep their tokens; nothing is spent on them
		want[k] = e
	}
	for _, extra := range [][]string{nil, {"batch=false"}} {
		store := t.TempDir()
		r := msRun(t, o, p, fake, store, seeds, extra...)
		if r.code != 0 {
			t.Fatalf("run %v failed:\n%s", extra, tail(r.stderr, 3000))
		}
		st := fake.Stats()
		if len(st.Batches) != 2 || st.ByRoute[p.chat] != 0 {
			t.Errorf("run %v: %d batches in all (want 2), %d chat calls (want 0)", extra, len(st.Batches), st.ByRoute[p.chat])
		}
		if d := sameExamples(readExamples(t, store), want); d != "" {
			t.Errorf("run %v from the cache differs from the first run:\n%s", extra, d)
		}
	}
}
