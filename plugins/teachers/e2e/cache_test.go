package e2e

import (
	"path/filepath"
	"testing"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
)

// TestStreamingCachesOnlyUsableAnswers: 3 of 9 answers are cut at
// max_tokens (finish reason "length"), which the strategy records as
// "truncated". A second run into another store with the same response
// cache takes the 6 usable answers from the cache and asks the provider
// again for the 3 others: an unusable answer in the cache would come back
// to every later run and every re-ask of the same request.
func TestStreamingCachesOnlyUsableAnswers(t *testing.T) {
	fake := fakeprovider.Start(t, fakeprovider.Options{Seed: 19, APIKey: testKey})
	seeds := englishSeeds(t, distinctPrompts(9, 3, "[[words:600]]"))
	cache := filepath.Join(t.TempDir(), "responses.db")
	o := runOpts{logLevel: "info", env: []string{"POLYGLOT_CACHE=" + cache}}
	run := func(store string) storeCounts {
		v := batchVars(fake, store, seeds, "examples_per_cell=9", "batch=false", "reasks=0", "max_tokens=100")
		r := polyglot(t, o, args("run", v, batchSpec(), "--only", onlyGenerate("gpt"))...)
		if r.code != 0 {
			t.Fatalf("run into %s failed:\n%s", store, tail(r.stderr, 3000))
		}
		return readStore(t, store)
	}
	first := run(t.TempDir())
	calls1 := fake.Stats().ByRoute["openai.chat"]
	if first.examples != 6 || first.failures["truncated"] != 3 || calls1 != 9 {
		t.Fatalf("first run: %d examples, failures %v, %d calls; want 6, 3 truncated, 9 calls", first.examples, first.failures, calls1)
	}
	second := run(t.TempDir())
	if got := fake.Stats().ByRoute["openai.chat"] - calls1; got != 3 {
		t.Errorf("the second run sent %d calls; want 3 (the truncated answers asked again, the usable ones from the cache)", got)
	}
	if second.examples != 6 || second.failures["truncated"] != 3 {
		t.Errorf("second run: %d examples, failures %v; want 6 and 3 truncated", second.examples, second.failures)
	}
}
