package command_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/store"
)

// with returns a copy of the run with more flags (a later -var wins).
func (c *chaosRun) with(flags ...string) *chaosRun {
	d := *c
	d.vars = append(append([]string(nil), c.vars...), flags...)
	return &d
}

// TestRerunOfFinishedRunIsFast is the re-run benchmark: a finished run of
// 100,000 examples, run again, must find everything done in under 5
// seconds without sending a request. Building the store takes minutes, so
// it runs only when asked:
//
//	POLYGLOT_BENCH=1 go test ./core/command -run TestRerunOfFinishedRunIsFast -v -timeout 30m
//
// POLYGLOT_BENCH_EXAMPLES=n sets another size.
func TestRerunOfFinishedRunIsFast(t *testing.T) {
	if testing.Short() || os.Getenv("POLYGLOT_BENCH") != "1" {
		t.Skip("re-run benchmark: set POLYGLOT_BENCH=1 (builds a 100,000-example store first)")
	}
	n := 100000
	if s := os.Getenv("POLYGLOT_BENCH_EXAMPLES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			t.Fatalf("POLYGLOT_BENCH_EXAMPLES=%q: want a positive number", s)
		}
	}
	srv := startChatServer(t, "127.0.0.1:0", 0)
	r := newChaosRun(t, "rerun", writeSeeds(t, t.TempDir(), n), srv.baseURL(), n, 32)

	start := time.Now()
	r.run(t, "run")
	first := time.Since(start)
	sent := srv.requests.Load()
	t.Logf("first run: %d examples, %d requests in %s (%.0f requests/s, generation and metric included)", n, sent, first.Round(time.Millisecond), float64(sent)/first.Seconds())
	if sent != int64(n) {
		t.Errorf("the first run sent %d requests for %d examples", sent, n)
	}
	before := r.status(t)
	if before.Total.Examples != n {
		t.Fatalf("the first run stored %d examples, want %d", before.Total.Examples, n)
	}

	start = time.Now()
	r.run(t, "run")
	second := time.Since(start)
	t.Logf("second run: %s (%.4f of the first run's time; %.1fx faster)", second.Round(time.Millisecond), second.Seconds()/first.Seconds(), first.Seconds()/second.Seconds())
	if again := srv.requests.Load() - sent; again != 0 {
		t.Errorf("the second run sent %d requests; a finished run must send none", again)
	}
	if second > 5*time.Second {
		t.Errorf("the second run took %s; a finished run must be re-checked in under 5s", second)
	}
	if diff := cmp.Diff(before, r.status(t)); diff != "" {
		t.Errorf("the second run changed the store (-before +after):\n%s", diff)
	}
}

// TestExportCurrentPlanOnly checks `polyglot export`: the dataset and card
// are deterministic, metric values appear only when the current plan's
// metric unit is done, a changed spec's older examples are not exported,
// and filters and a missing store give clear errors.
func TestExportCurrentPlanOnly(t *testing.T) {
	const n = 60
	srv := startChatServer(t, "127.0.0.1:0", 0)
	r := newChaosRun(t, "rerun", writeSeeds(t, t.TempDir(), n), srv.baseURL(), n, 8)

	// Nothing has run: the error says what to do.
	cmd := r.command("export")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err == nil || !strings.Contains(errb.String(), "polyglot run") {
		t.Errorf("export before any run: %v\n%s", err, errb.String())
	}

	r.run(t, "run")
	first := r.exported(t)
	checkJSONL(t, first["data.jsonl"], n)
	card := string(first["README.md"])
	for _, want := range []string{"pretty_name: \"rerun\"", "- \"de\"", "| local | de | respond | 60 |", "## Metrics", "(metrics.csv)",
		"license_link: \"LICENSE.md\"", "path: \"data.parquet\"", "## System prompts"} {
		if !strings.Contains(card, want) {
			t.Errorf("the dataset card lacks %q:\n%s", want, card)
		}
	}
	if !strings.Contains(string(first["metrics.csv"]), "length.") {
		t.Errorf("metrics.csv lacks the length metric:\n%s", first["metrics.csv"])
	}
	if !bytes.Contains(first["data.jsonl"], []byte(`,"system":"`)) {
		t.Error("the rows lack their system prompt")
	}
	again := r.exported(t)
	for name, b := range first {
		if !bytes.Equal(b, again[name]) {
			t.Errorf("exporting the same store twice gave different %s", name)
		}
	}

	// A new temperature is a new generate unit: only its examples are
	// exported, and the old metric values are left out until the new
	// metric unit has run.
	changed := r.with("-var", "temperature=0.2")
	changed.run(t, "run", "--only", "stage=generate")
	if got := srv.requests.Load(); got != 2*n {
		t.Fatalf("server saw %d requests; want %d (the new temperature is a new request)", got, 2*n)
	}
	if s := changed.status(t); s.Total.Examples != 2*n {
		t.Fatalf("store has %d examples; want both versions' %d", s.Total.Examples, 2*n)
	}
	stale := changed.exported(t)
	checkJSONL(t, stale["data.jsonl"], n)
	if bytes.Equal(stale["data.jsonl"], first["data.jsonl"]) {
		t.Error("the export after a spec change still holds the old unit's examples")
	}
	if strings.Contains(string(stale["README.md"]), "## Metrics") || stale["metrics.csv"] != nil {
		t.Errorf("the card shows metric values of the old data:\n%s", stale["README.md"])
	}
	changed.run(t, "run")
	if !strings.Contains(string(changed.exported(t)["metrics.csv"]), "length.") {
		t.Error("the card lacks the metric values once the metric unit is done")
	}

	// Filters and formats.
	out := t.TempDir()
	r.run(t, "export", "--format", "jsonl", "--language", "de", "--strategy", "respond", "--out", out)
	names := []string{}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"LICENSE.md", "README.md", "data.jsonl", "metrics.csv"}, names); diff != "" {
		t.Errorf("--format jsonl wrote (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "data.jsonl")); !bytes.Equal(b, first["data.jsonl"]) {
		t.Error("filtering on the only cell changed the data")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--teacher", "nope"}, `--teacher "nope" is not in the plan; it has: local`},
		{[]string{"--language", "de,fr"}, `--language "fr" is not in the plan; it has: de`},
		{[]string{"--format", "csv"}, `--format must be jsonl, parquet or both`},
	} {
		cmd := r.command(append([]string{"export", "--out", t.TempDir()}, tc.args...)...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err == nil || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("export %v: %v, stderr %q; want an error with %q", tc.args, err, errb.String(), tc.want)
		}
	}
	// While a run holds the store, export refuses; --partial exports what
	// is there and says so in the card.
	st, err := store.Open(r.store)
	if err != nil {
		t.Fatal(err)
	}
	cmd = r.command("export", "--out", t.TempDir())
	errb.Reset()
	cmd.Stderr = &errb
	if err := cmd.Run(); err == nil || !strings.Contains(errb.String(), "a run is still writing") || !strings.Contains(errb.String(), "--partial") {
		t.Errorf("export during a run: %v, stderr %q", err, errb.String())
	}
	partial := t.TempDir()
	r.run(t, "export", "--partial", "--out", partial)
	if b, _ := os.ReadFile(filepath.Join(partial, "README.md")); !strings.Contains(string(b), "Partial export") || !strings.Contains(string(b), "- partial\n") {
		t.Errorf("the card of a partial export does not say so:\n%s", b)
	}
	st.Close()

	// The default folder is the store's export folder.
	r.run(t, "export", "--format", "parquet")
	if _, err := os.Stat(filepath.Join(r.store, "export", "data.parquet")); err != nil {
		t.Errorf("default --out: %v", err)
	}
}
