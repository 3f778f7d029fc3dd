package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
)

// decidedState is what the chunk's KV state says of its round.
type decidedState struct {
	BatchID string `json:"batch_id"`
	Round   int    `json:"round"`
	Members [][2]int
}

// batchStates reads the store's batch-mode KV entries.
func batchStates(t *testing.T, store string) []decidedState {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(store, "polyglot.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT value FROM kv WHERE ns = 'batch' ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []decidedState
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		var st decidedState
		if err := json.Unmarshal([]byte(v), &st); err != nil {
			t.Fatalf("batch state %s: %v", v, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sortedIDs are a batch's custom_ids in order, for comparing submissions.
func sortedIDs(ids []string) string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// TestBatchMultiStepKillBeforeDecidedRoundSubmitted covers the window in
// batch.go's runChunk between storing a chunk's next round (its re-asks
// and next-step calls, batch id "") and the provider accepting that
// round's batch. 2 of 6 draft answers are broken and reasks = 1, so an
// uninterrupted run submits "s0a0=6", then "s0a1=2,s1a0=4" (re-asks next
// to polish calls), then "s1a0=2". The fake holds the 2nd or the 3rd
// submission unanswered (Options.HoldBatch): the previous batch has been
// answered and its outcomes committed (after the 2nd batch, 4 examples),
// the next round is in the chunk's KV state, and polyglot is killed while
// it waits for the provider to accept it. The rerun must send exactly that
// decided round, once, with nothing polled again, and then the rest; the
// examples, their tokens and the store's total cost equal an
// uninterrupted run's. For each provider.
func TestBatchMultiStepKillBeforeDecidedRoundSubmitted(t *testing.T) {
	uninterrupted := []string{"s0a0=6", "s0a1=2,s1a0=4", "s1a0=2"}
	for _, tc := range []struct {
		name string
		hold int // the submission held when the kill comes (1-based)
		// examples committed before the kill
		examples int
	}{
		{"kill before re-asks and polish calls are submitted", 2, 0},
		{"kill before the late polish calls are submitted", 3, 4},
	} {
		for _, p := range msProviders {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				seeds := germanSeeds(t, 6, 3, "[[fault:malformed]]")
				common := []string{"examples_per_cell=6", "reasks=1"}
				o := runOpts{logLevel: "info", env: []string{"POLYGLOT_BATCH_POLL=10ms"}}

				// The uninterrupted run, on its own fake with the same seed.
				cleanFake := fakeprovider.Start(t, fakeprovider.Options{Seed: 37, APIKey: testKey, BatchPolls: 1})
				clean := t.TempDir()
				if r := msRun(t, o, p, cleanFake, clean, seeds, common...); r.code != 0 {
					t.Fatalf("uninterrupted run failed:\n%s", tail(r.stderr, 3000))
				}
				cst := cleanFake.Stats()
				if got := batchSteps(t, cst.Batches); strings.Join(got, " ") != strings.Join(uninterrupted, " ") {
					t.Fatalf("the uninterrupted run submitted %v, want %v", got, uninterrupted)
				}

				fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 37, APIKey: testKey, BatchPolls: 1, HoldBatch: tc.hold})
				store := t.TempDir()
				cmd, out := startBackground(t, o, msArgs(p, fake, store, seeds, common...)...)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				if !waitFor(ctx, 5*time.Millisecond, func() bool { return fake.Stats().HeldBatches == 1 }) {
					t.Fatalf("submission %d was never held: %v\n%s", tc.hold, fake.Stats().ByRoute, tail(out.String(), 3000))
				}
				killHard(t, cmd)

				before := fake.Stats()
				if len(before.Batches) != tc.hold-1 || before.ByRoute[p.results] != int64(tc.hold-1) {
					t.Fatalf("at the kill: %d batches accepted, %d results fetched; want %d and %d", len(before.Batches), before.ByRoute[p.results], tc.hold-1, tc.hold-1)
				}
				c := readStore(t, store)
				if c.examples != tc.examples || len(c.failures) != 0 {
					t.Fatalf("at the kill: %d examples, failures %v; want %d and none", c.examples, c.failures, tc.examples)
				}
				// The decided round is stored, not yet sent.
				if sts := batchStates(t, store); len(sts) != 1 || sts[0].BatchID != "" || sts[0].Round != tc.hold-1 {
					t.Fatalf("at the kill the batch state is %+v; want one chunk at round %d with no batch id", sts, tc.hold-1)
				}

				r := msRun(t, o, p, fake, store, seeds, common...)
				if r.code != 0 {
					t.Fatalf("the resumed run failed:\n%s", tail(r.stderr, 3000))
				}
				after := fake.Stats()
				sent := after.Batches[tc.hold-1:]
				if got, want := batchSteps(t, sent), uninterrupted[tc.hold-1:]; strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("the rerun submitted %v, want %v", got, want)
				}
				// The same calls as the uninterrupted run's, batch by batch.
				for i := range min(len(sent), len(cst.Batches)-(tc.hold-1)) {
					if g, w := sortedIDs(sent[i]), sortedIDs(cst.Batches[tc.hold-1+i]); g != w {
						t.Errorf("rerun batch %d holds %s, the uninterrupted run's %s", i+1, g, w)
					}
				}
				if after.BatchCalls != cst.BatchCalls || after.HeldBatches != 1 {
					t.Errorf("%d calls in accepted batches (want %d as uninterrupted), %d held: a call was paid for twice or lost", after.BatchCalls, cst.BatchCalls, after.HeldBatches)
				}
				if after.ByRoute[p.results] != int64(len(uninterrupted)) {
					t.Errorf("%d result downloads, want %d: a batch was fetched again", after.ByRoute[p.results], len(uninterrupted))
				}
				if n := strings.Count(r.stderr, "resuming a submitted batch"); n != 0 {
					t.Errorf("the rerun polled %d stored batches, want 0: the decided round had no batch", n)
				}

				c = readStore(t, store)
				if c.examples != 6 || len(c.failures) != 0 || c.retrying != 0 || c.batchState != 0 {
					t.Errorf("after the rerun: %d examples, failures %v, %d retrying, %d batch states; want 6, none, 0, 0", c.examples, c.failures, c.retrying, c.batchState)
				}
				if d := sameExamples(readExamples(t, store), readExamples(t, clean)); d != "" {
					t.Errorf("the resumed run's examples differ from an uninterrupted run's:\n%s", d)
				}
				if w := readStore(t, clean).cost; w <= 0 || diffRel(c.cost, w) > 1e-9 {
					t.Errorf("the interrupted run cost $%.6f, an uninterrupted one $%.6f", c.cost, w)
				}
			})
		}
	}
}
