package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
)

// TestBatchModeResumesPollingAfterKill runs the mixed spec with batch =
// true on the OpenAI and Anthropic teachers, kills polyglot (SIGKILL)
// while it polls, and runs it again: the second run must poll the batches
// the first submitted (the fake sees exactly one submission per unit) and
// finish every cell through to the report.
func TestBatchModeResumesPollingAfterKill(t *testing.T) {
	// Each batch answers "in progress" to 40 polls: 2 s at 50 ms.
	fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 3, APIKey: testKey, BatchPolls: 40})
	store := t.TempDir()
	v := vars(fake, store, "batch=true")
	o := runOpts{logLevel: "debug", env: []string{"POLYGLOT_BATCH_POLL=50ms"}}
	const units = 6 // per API teacher: 2 languages x 3 strategies

	cmd, out := startBackground(t, o, args("run", v, specDir)...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Polling has begun for every unit once each provider has answered
	// well over one status request per batch.
	polling := waitFor(ctx, 20*time.Millisecond, func() bool {
		s := fake.Stats().ByRoute
		return s["openai.batches"] == units && s["anthropic.batches"] == units &&
			s["openai.batch_get"] >= 3*units && s["anthropic.batch_get"] >= 3*units
	})
	if !polling {
		t.Fatalf("the run never polled all its batches: %v\n%s", fake.Stats().ByRoute, tail(out.String(), 3000))
	}
	killHard(t, cmd)
	before := fake.Stats().ByRoute
	if before["openai.file_content"] != 0 || before["anthropic.batch_results"] != 0 {
		t.Fatalf("the batches ended before the kill; raise BatchPolls: %v", before)
	}
	if got := batchSummary(t, v); got.api != 0 {
		t.Fatalf("%d API-teacher examples before any batch ended", got.api)
	}

	r := polyglot(t, o, args("run", v, specDir)...)
	if r.code != 0 {
		t.Fatalf("the resumed run failed:\n%s", tail(r.stderr, 4000))
	}
	after := fake.Stats()
	if after.ByRoute["openai.batches"] != units || after.ByRoute["anthropic.batches"] != units || after.ByRoute["openai.files"] != units {
		t.Errorf("batches were submitted again after the restart: %v", after.ByRoute)
	}
	if n := after.ByRoute["openai.chat"] + after.ByRoute["anthropic.messages"]; n != 0 {
		t.Errorf("%d calls went through the streaming API in batch mode", n)
	}
	if after.Rejected != 0 {
		t.Errorf("the fake refused %d requests: %v", after.Rejected, after.Rejections)
	}
	if got := strings.Count(r.stderr, "resuming a submitted batch"); got != 2*units {
		t.Errorf("the second run resumed %d batches, want %d", got, 2*units)
	}
	sum := status(t, v, specDir)
	if len(sum.Cells) != 18 {
		t.Errorf("%d cells, want 18", len(sum.Cells))
	}
	for _, c := range sum.Cells {
		if c.Examples != 2 || c.Failures+c.Retrying != 0 {
			t.Errorf("cell %s/%s/%s: %d examples, %d failures, %d retrying; want 2, 0, 0", c.Teacher, c.Language, c.Strategy, c.Examples, c.Failures, c.Retrying)
		}
	}
	for _, u := range planUnits(t, v, specDir) {
		if u.State != "done" {
			t.Errorf("unit %s is %s", u.Label, u.State)
		}
	}
	if _, err := os.Stat(filepath.Join(store, "report", "report.html")); err != nil {
		t.Errorf("no report after the resumed run: %v", err)
	}
	// A third run has nothing to do and submits nothing.
	if r := polyglot(t, o, args("run", v, specDir)...); r.code != 0 {
		t.Fatalf("third run: %s", tail(r.stderr, 2000))
	}
	if again := fake.Stats().ByRoute; again["openai.batches"] != units || again["anthropic.batches"] != units {
		t.Errorf("a finished experiment submitted batches: %v", again)
	}
	assertNoKey(t, out.String()+r.stderr, store)
}

type batchCounts struct{ api, human int }

func batchSummary(t *testing.T, v []string) batchCounts {
	var c batchCounts
	for _, cl := range status(t, v, specDir).Cells {
		if cl.Teacher == "human" {
			c.human += cl.Examples
		} else {
			c.api += cl.Examples
		}
	}
	return c
}

// TestBatchModeRecordsPerRequestErrors: a batch line the provider rejects
// (400) is a final failure; one that failed on the provider's side (500)
// is retried by the next run in a new batch that holds only it.
func TestBatchModeRecordsPerRequestErrors(t *testing.T) {
	fake := fakeprovider.Start(t, fakeprovider.Options{APIKey: testKey, BatchPolls: 2})
	seeds := filepath.Join(t.TempDir(), "de.jsonl")
	var b strings.Builder
	for i, p := range []string{"Wie spät ist es?", "Was ist ein Verb? [[fault:bad_request]]", "Warum ist der Himmel blau?", "Nenne drei Flüsse. [[fault:server]]", "Was kocht man im Winter?", "Wie heißt du?"} {
		b.WriteString(`{"id":"de-` + itoa(i) + `","language":"de","prompt":"` + p + `","response":"-"}` + "\n")
	}
	if err := os.WriteFile(seeds, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(specDir, "faults")
	v := vars(fake, t.TempDir(), "seeds="+seeds, `languages=["de"]`, "examples_per_cell=6", "batch=true")
	o := runOpts{env: []string{"POLYGLOT_BATCH_POLL=20ms"}}
	for run := 1; run <= 2; run++ {
		r := polyglot(t, o, args("run", v, dir, "--only", "teacher=gpt,stage=generate")...)
		if r.code == 0 || !strings.Contains(r.stderr, "1 of 6 requests of batch") || !strings.Contains(r.stderr, "run again to send them in a new batch") {
			t.Fatalf("run %d: want the unit to fail with one temporary failure, got %d:\n%s", run, r.code, tail(r.stderr, 2000))
		}
		sum := status(t, v, dir)
		if tot := sum.Total; tot.Examples != 4 || tot.Failures != 1 || tot.Retrying != 1 {
			t.Errorf("run %d: %d examples, %d failures, %d retrying; want 4, 1, 1", run, tot.Examples, tot.Failures, tot.Retrying)
		}
		if got := fake.Stats().ByRoute["openai.batches"]; got != int64(run) {
			t.Errorf("after run %d the fake has %d batches, want %d", run, got, run)
		}
	}
}
