package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The test binary doubles as a child process for the cross-process tests:
// POLYGLOT_STORE_CHILD selects what the child does.
func TestMain(m *testing.M) {
	switch os.Getenv("POLYGLOT_STORE_CHILD") {
	case "":
		os.Exit(m.Run())
	case "hold-lock":
		childHoldLock(os.Getenv("POLYGLOT_STORE_DIR"))
	case "write-forever":
		childWriteForever(os.Getenv("POLYGLOT_STORE_DIR"))
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode")
		os.Exit(2)
	}
}

func childHoldLock(dir string) {
	s, err := Open(dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	// Hold the lock until the parent closes stdin (or kills us).
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	s.Close()
	os.Exit(0)
}

const killBatch = 500

func childWriteForever(dir string) {
	s, err := Open(dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// A huge interval: only full batches are committed, so the parent can
	// check that exactly whole batches survived.
	w := s.NewWriter(WriterOptions{BatchRows: killBatch, BatchInterval: time.Hour})
	for i := 0; i < 2*killBatch; i++ {
		if err := w.Example(testExample(i)); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("flushed")
	for i := 2 * killBatch; ; i++ {
		if err := w.Example(testExample(i)); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
}

func testExample(i int) *Example {
	teachers := []string{"alpha", "beta"}
	langs := []string{"de", "ja", "ar"}
	strats := []string{"generate", "respond"}
	t, l, st := teachers[i%2], langs[(i/2)%3], strats[(i/6)%2]
	return &Example{
		Key:          fmt.Sprintf("req-%07d", i),
		Unit:         fmt.Sprintf("gen/%s/%s/%s/1", t, l, st),
		Teacher:      t,
		Model:        t + "-model",
		Language:     l,
		Strategy:     st,
		Seed:         1,
		SeedRowID:    fmt.Sprintf("seeds.jsonl:%d", i%97),
		Idx:          i / 12,
		Prompt:       fmt.Sprintf("prompt %d: %s", i, strings.Repeat("p", 30)),
		Response:     fmt.Sprintf("response %d: %s", i, strings.Repeat("r", 60)),
		Params:       json.RawMessage(`{"temperature":0.8}`),
		InputTokens:  10 + i%7,
		OutputTokens: 20 + i%5,
		Latency:      time.Duration(i%1000) * time.Millisecond,
		CostUSD:      0.001,
		Created:      time.UnixMilli(1700000000000 + int64(i)).UTC(),
	}
}

func openT(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeExamples(t *testing.T, s *Store, from, to int) {
	t.Helper()
	w := s.NewWriter(WriterOptions{BatchRows: 64})
	for i := from; i < to; i++ {
		if err := w.Example(testExample(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestExamplesRoundTripAndOrder(t *testing.T) {
	s := openT(t, t.TempDir())
	writeExamples(t, s, 0, 300)
	writeExamples(t, s, 250, 310) // overlap: duplicates are ignored, not double counted

	var got []*Example
	if err := s.Examples(Filter{}, func(e *Example) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 310 {
		t.Fatalf("got %d examples, want 310", len(got))
	}
	// Deterministic order: (teacher, language, strategy, seed, idx, key).
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		ka := fmt.Sprintf("%s|%s|%s|%09d|%09d|%s", a.Teacher, a.Language, a.Strategy, a.Seed, a.Idx, a.Key)
		kb := fmt.Sprintf("%s|%s|%s|%09d|%09d|%s", b.Teacher, b.Language, b.Strategy, b.Seed, b.Idx, b.Key)
		if ka >= kb {
			t.Fatalf("order broken at %d: %s then %s", i, ka, kb)
		}
	}
	byKey := map[string]*Example{}
	for _, e := range got {
		byKey[e.Key] = e
	}
	for _, i := range []int{0, 7, 299, 309} {
		want := testExample(i)
		if d := cmp.Diff(want, byKey[want.Key]); d != "" {
			t.Errorf("example %d (-want +got):\n%s", i, d)
		}
	}

	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 310},
		{"teacher", Filter{Teachers: []string{"alpha"}}, 155},
		{"teacher+lang", Filter{Teachers: []string{"alpha"}, Languages: []string{"de", "ja"}}, 104},
		{"strategy", Filter{Strategies: []string{"respond"}}, 154},
		{"seed none", Filter{Seeds: []int{2}}, 0},
		{"unit", Filter{Unit: "gen/beta/ja/generate/1"}, 26},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.CountExamples(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var m int
			if err := s.Examples(tc.f, func(*Example) error { m++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n != tc.want || m != tc.want {
				t.Errorf("count %d, iterated %d, want %d", n, m, tc.want)
			}
		})
	}

	// ExampleTexts gives the same rows in the same order, text fields only.
	var light []*Example
	if err := s.ExampleTexts(Filter{}, func(e *Example) error { light = append(light, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(light) != len(got) {
		t.Fatalf("ExampleTexts gave %d rows, Examples %d", len(light), len(got))
	}
	for i, e := range got {
		want := &Example{Key: e.Key, Unit: e.Unit, Teacher: e.Teacher, Language: e.Language, Strategy: e.Strategy, Seed: e.Seed, Idx: e.Idx, Prompt: e.Prompt, Response: e.Response}
		if d := cmp.Diff(want, light[i]); d != "" {
			t.Fatalf("ExampleTexts row %d (-want +got):\n%s", i, d)
		}
	}

	// ErrStop ends early without error.
	n := 0
	if err := s.Examples(Filter{}, func(*Example) error {
		n++
		if n == 5 {
			return ErrStop
		}
		return nil
	}); err != nil || n != 5 {
		t.Errorf("ErrStop: n=%d err=%v", n, err)
	}
	// Other errors propagate.
	boom := errors.New("boom")
	if err := s.Examples(Filter{}, func(*Example) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("callback error = %v, want boom", err)
	}
}

func TestSummaryAndFailures(t *testing.T) {
	s := openT(t, t.TempDir())
	w := s.NewWriter(WriterOptions{})
	for i := 0; i < 24; i++ {
		if err := w.Example(testExample(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Failures: a final one, a retrying one, and a retrying one later settled by an example.
	fails := []*Failure{
		{Key: "req-x1", Unit: "gen/alpha/de/generate/1", Teacher: "alpha", Language: "de", Strategy: "generate", Seed: 1, Reason: "unparsable JSON", Raw: "{oops", Attempts: 3, Final: true},
		{Key: "req-x2", Unit: "gen/alpha/de/generate/1", Teacher: "alpha", Language: "de", Strategy: "generate", Seed: 1, Reason: "timeout", Attempts: 1},
		{Key: "req-0000100", Unit: testExample(100).Unit, Teacher: "alpha", Language: "ja", Strategy: "generate", Seed: 1, Reason: "429", Attempts: 1},
	}
	for _, f := range fails {
		if err := w.Failure(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Example(testExample(100)); err != nil {
		t.Fatal(err)
	}
	// A failure reported after the example is ignored.
	if err := w.Failure(&Failure{Key: "req-0000000", Unit: testExample(0).Unit, Teacher: "alpha", Reason: "late"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	var keys []string
	if err := s.Failures(Filter{}, func(f *Failure) error { keys = append(keys, f.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"req-x1", "req-x2"}, keys); d != "" {
		t.Errorf("failures (-want +got):\n%s", d)
	}

	done, err := s.DoneRequests("gen/alpha/de/generate/1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"req-x1": true}
	for i := 0; i < 24; i++ {
		if e := testExample(i); e.Unit == "gen/alpha/de/generate/1" {
			want[e.Key] = true
		}
	}
	if d := cmp.Diff(want, done); d != "" {
		t.Errorf("DoneRequests (-want +got):\n%s", d)
	}

	sum, err := s.Summary()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total.Examples != 25 || sum.Total.Failures != 1 || sum.Total.Retrying != 1 {
		t.Errorf("totals = %+v, want 25 examples, 1 final failure, 1 retrying", sum.Total)
	}
	var in int64
	for i := 0; i < 24; i++ {
		in += int64(testExample(i).InputTokens)
	}
	in += int64(testExample(100).InputTokens)
	if sum.Total.InputTokens != in {
		t.Errorf("input tokens = %d, want %d", sum.Total.InputTokens, in)
	}
	first := sum.Cells[0]
	if first.Teacher != "alpha" || first.Language != "ar" || first.Examples != 3 {
		t.Errorf("first cell = %+v", first)
	}
}

func TestUnitsRunsKVCacheArtifacts(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)

	id, err := s.BeginRun("abc123", "run")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EndRun(id, "ok"); err != nil {
		t.Fatal(err)
	}
	if err := s.EndRun(id+10, "ok"); err == nil {
		t.Error("EndRun of a missing run succeeded")
	}
	runs, err := s.Runs()
	if err != nil || len(runs) != 1 || runs[0].Status != "ok" || runs[0].PID != os.Getpid() || runs[0].Ended.IsZero() {
		t.Errorf("runs = %+v, %v", runs, err)
	}

	units := []Unit{{Key: "gen/a", Stage: "generate", Label: "a"}, {Key: "gen/b", Stage: "generate"}, {Key: "m/a", Stage: "metrics"}}
	if err := s.PutUnits(units); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUnit("gen/a", Running, map[string]int{"done": 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUnit("gen/a", Done, nil); err != nil {
		t.Fatal(err)
	}
	// Re-planning keeps the state of existing units.
	if err := s.PutUnits(units); err != nil {
		t.Fatal(err)
	}
	u, ok, err := s.Unit("gen/a")
	if err != nil || !ok {
		t.Fatalf("Unit: %v %v", ok, err)
	}
	if u.State != Done || u.Attempts != 1 || string(u.Detail) != `{"done":3}` || u.Label != "a" {
		t.Errorf("unit = %+v", u)
	}
	if _, ok, _ := s.Unit("nope"); ok {
		t.Error("missing unit found")
	}
	if err := s.SetUnit("nope", Done, nil); err == nil || !strings.Contains(err.Error(), "PutUnits") {
		t.Errorf("SetUnit of missing unit: %v", err)
	}
	if err := s.SetUnit("gen/a", "finished", nil); err == nil || !strings.Contains(err.Error(), "unknown unit state") {
		t.Errorf("bad state: %v", err)
	}
	gen, err := s.Units("generate")
	if err != nil || len(gen) != 2 {
		t.Errorf("Units(generate) = %d, %v", len(gen), err)
	}
	all, _ := s.Units("")
	if len(all) != 3 {
		t.Errorf("Units() = %d", len(all))
	}
	if err := s.SetUnit("gen/b", Running, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ResetRunning(); err != nil || n != 1 {
		t.Errorf("ResetRunning = %d, %v", n, err)
	}
	sum, _ := s.Summary()
	if d := cmp.Diff([]StageCount{{Stage: "generate", Pending: 1, Done: 1}, {Stage: "metrics", Pending: 1}}, sum.Stages); d != "" {
		t.Errorf("stages (-want +got):\n%s", d)
	}

	type job struct {
		ID    string
		Tries int
	}
	if err := s.KVPut("slurm", "train/a", job{"1234", 2}); err != nil {
		t.Fatal(err)
	}
	var j job
	if ok, err := s.KVGet("slurm", "train/a", &j); err != nil || !ok || j != (job{"1234", 2}) {
		t.Errorf("KVGet = %v %v %+v", ok, err, j)
	}
	if ok, _ := s.KVGet("slurm", "nope", &j); ok {
		t.Error("missing key found")
	}
	if keys, _ := s.KVKeys("slurm"); len(keys) != 1 {
		t.Errorf("KVKeys = %v", keys)
	}
	if err := s.KVDelete("slurm", "train/a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.KVGet("slurm", "train/a", &j); ok {
		t.Error("deleted key found")
	}

	if err := s.CachePut("h1", []byte(`{"text":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	if b, ok, err := s.CacheGet("h1"); err != nil || !ok || string(b) != `{"text":"hi"}` {
		t.Errorf("CacheGet = %q %v %v", b, ok, err)
	}
	if _, ok, _ := s.CacheGet("h2"); ok {
		t.Error("missing cache entry found")
	}

	content := []byte("model weights, pretend")
	sha, p, err := s.PutArtifact(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	sum256 := sha256.Sum256(content)
	if sha != hex.EncodeToString(sum256[:]) || p != filepath.Join(dir, "artifacts", sha[:2], sha[2:]) {
		t.Errorf("artifact %s at %s", sha, p)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, content) {
		t.Error("artifact content differs")
	}
	sha2, p2, err := s.PutArtifact(bytes.NewReader(content))
	if err != nil || sha2 != sha || p2 != p {
		t.Errorf("second put: %s %s %v", sha2, p2, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "artifacts", ".incoming-*"))
	if len(left) != 0 {
		t.Errorf("temporary artifacts left behind: %v", left)
	}
}

func TestResultsRoundTrip(t *testing.T) {
	s := openT(t, t.TempDir())
	aggs := []MetricAggregate{
		{Metric: "judge", Teacher: "beta", Language: "de", Seed: 1, Value: 4.1, Direction: "higher", N: 100, Stderr: 0.05},
		{Metric: "judge", Teacher: "alpha", Language: "de", Strategy: "generate", Seed: 1, Value: 3.9, Direction: "higher", N: 50, Detail: json.RawMessage(`{"per_example":[1,2]}`)},
		{Metric: "ppl", Teacher: "alpha", Language: "de", Seed: 1, Value: 12.5, Direction: "lower", N: 100},
	}
	if err := s.PutMetricAggregate(aggs...); err != nil {
		t.Fatal(err)
	}
	aggs[0].Value = 4.2 // replace
	if err := s.PutMetricAggregate(aggs[0]); err != nil {
		t.Fatal(err)
	}
	got, err := s.MetricAggregates("judge")
	if err != nil {
		t.Fatal(err)
	}
	want := []MetricAggregate{aggs[1], aggs[0]}
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(MetricAggregate{}, "Updated")); d != "" {
		t.Errorf("aggregates (-want +got):\n%s", d)
	}
	if all, _ := s.MetricAggregates(); len(all) != 3 {
		t.Errorf("all aggregates = %d", len(all))
	}
	if err := s.PutMetricAggregate(MetricAggregate{Metric: "x"}); err == nil {
		t.Error("aggregate without teacher accepted")
	}

	evs := []Eval{
		{Role: "student", Student: "olmo", Teacher: "alpha", Language: "de", Seed: 1, Benchmark: "mgsm", Score: 0.4},
		{Role: "base", Student: "olmo", Language: "de", Seed: 1, Benchmark: "mgsm", Score: 0.3, Stderr: 0.01},
	}
	if err := s.PutEval(evs...); err != nil {
		t.Fatal(err)
	}
	gotE, err := s.Evals()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]Eval{evs[1], evs[0]}, gotE, cmpopts.IgnoreFields(Eval{}, "Updated")); d != "" {
		t.Errorf("evals (-want +got):\n%s", d)
	}

	tr := Training{Unit: "train/olmo/alpha/de/1", Student: "olmo", Teacher: "alpha", Language: "de", Seed: 1, Status: "done", Checkpoint: "ab12", Detail: json.RawMessage(`{"loss":1.2}`)}
	if err := s.PutTraining(tr); err != nil {
		t.Fatal(err)
	}
	gotT, err := s.Trainings()
	if err != nil || len(gotT) != 1 {
		t.Fatalf("trainings %v %v", gotT, err)
	}
	if d := cmp.Diff(tr, gotT[0], cmpopts.IgnoreFields(Training{}, "Updated")); d != "" {
		t.Errorf("training (-want +got):\n%s", d)
	}

	// Per-example metric values, replaced on rewrite, read in example order.
	writeExamples(t, s, 0, 12)
	w := s.NewWriter(WriterOptions{})
	for i := 0; i < 12; i++ {
		if err := w.MetricValues(MetricValue{Metric: "judge", ExampleKey: testExample(i).Key, Value: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.MetricValues(MetricValue{Metric: "judge", ExampleKey: testExample(3).Key, Value: 99, Detail: json.RawMessage(`"great"`)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	vals := map[string]float64{}
	if err := s.MetricValues("judge", Filter{Teachers: []string{"beta"}}, func(v *MetricValue) error { vals[v.ExampleKey] = v.Value; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(vals) != 6 || vals[testExample(3).Key] != 99 {
		t.Errorf("metric values = %v", vals)
	}
}

func TestWriterRejectsBadInput(t *testing.T) {
	s := openT(t, t.TempDir())
	w := s.NewWriter(WriterOptions{})
	defer w.Close()
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"example without key", func() error { return w.Example(&Example{Unit: "u"}) }, "request key"},
		{"example bad params", func() error { return w.Example(&Example{Key: "k", Unit: "u", Params: json.RawMessage("{")}) }, "not valid JSON"},
		{"failure without unit", func() error { return w.Failure(&Failure{Key: "k"}) }, "unit key"},
		{"metric without name", func() error { return w.MetricValues(MetricValue{ExampleKey: "k"}) }, "metric name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestWriterConcurrentAndTimed(t *testing.T) {
	s := openT(t, t.TempDir())
	var mu sync.Mutex
	commits := 0
	w := s.NewWriter(WriterOptions{BatchRows: 1 << 20, BatchInterval: 20 * time.Millisecond, OnCommit: func(int) { mu.Lock(); commits++; mu.Unlock() }})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < 800; i += 8 {
				if err := w.Example(testExample(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	// The interval commits without Flush.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, _ := s.CountExamples(Filter{})
		if n == 800 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed commit did not happen: %d rows visible", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Example(testExample(1000)); err == nil {
		t.Error("write after Close accepted")
	}
	mu.Lock()
	defer mu.Unlock()
	if commits == 0 {
		t.Error("OnCommit never called")
	}
}

func TestLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	_, err := Open(dir)
	var le *LockError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second Open = %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	// A reader works meanwhile.
	r, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	s.Close()
	s2, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func child(t *testing.T, mode, dir string) (*exec.Cmd, *bufio.Reader, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "POLYGLOT_STORE_CHILD="+mode, "POLYGLOT_STORE_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	t.Cleanup(stop)
	return cmd, bufio.NewReader(out), stop
}

func TestLockedAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd, out, stop := child(t, "hold-lock", dir)
	line, err := out.ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	_, err = Open(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while child holds the lock = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("error does not name the child's pid %d: %v", cmd.Process.Pid, err)
	}
	// SIGKILL releases the lock: no stale locks after a crash.
	stop()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after the holder died: %v", err)
	}
	s.Close()
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	writeExamples(t, s, 0, 10)
	s.Close()
	// Simulate a newer polyglot by bumping user_version behind its back.
	db, err := sql.Open("sqlite", filepath.Join(dir, DBName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+5)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := hashFiles(t, dir)

	for name, open := range map[string]func(string) (*Store, error){"Open": Open, "OpenReadOnly": OpenReadOnly} {
		_, err := open(dir)
		if !errors.Is(err, ErrNewerSchema) {
			t.Fatalf("%s = %v, want ErrNewerSchema", name, err)
		}
		want := fmt.Sprintf("this store was written by a newer polyglot (schema %d > %d); upgrade polyglot", len(migrations)+5, len(migrations))
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s error %q does not say %q", name, err, want)
		}
	}
	if after := hashFiles(t, dir); after != before {
		t.Error("refusing a newer store still changed its files")
	}
}

// hashFiles hashes the database and its WAL, the files "nothing touched" is
// about. An empty WAL (a read-only open may leave one) holds nothing.
func hashFiles(t *testing.T, dir string) string {
	h := sha256.New()
	for _, n := range []string{DBName, DBName + "-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil && len(b) > 0 {
			h.Write([]byte(n))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	writeExamples(t, s, 0, 100)
	var pages int
	if err := s.wdb.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// Cap the file a few pages above its size: the next big batch cannot fit.
	if _, err := s.wdb.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+4)); err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter(WriterOptions{BatchRows: 2000})
	var werr error
	for i := 100; i < 5100 && werr == nil; i++ {
		werr = w.Example(testExample(i))
	}
	if werr == nil {
		werr = w.Flush()
	}
	cerr := w.Close()
	for _, err := range []error{werr, cerr} {
		if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "free disk space") {
			t.Errorf("error = %v, want a clear disk-full error", err)
		}
	}
	if n, err := s.CountExamples(Filter{}); err != nil || n != 100 {
		t.Errorf("after disk full: %d examples (%v), want the 100 committed before", n, err)
	}
	s.Close()
	s2 := openT(t, dir)
	if err := s2.IntegrityCheck(); err != nil {
		t.Fatal(err)
	}
	writeExamples(t, s2, 100, 200) // the limit was per connection: reopened store writes fine
	if n, _ := s2.CountExamples(Filter{}); n != 200 {
		t.Errorf("after reopen: %d examples, want 200", n)
	}
}

func TestKilledWriterLosesOnlyTheOpenBatch(t *testing.T) {
	dir := t.TempDir()
	cmd, out, _ := child(t, "write-forever", dir)
	line, err := out.ReadString('\n')
	if err != nil || line != "flushed\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	// Let it commit a few more batches and be caught mid-batch.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := OpenReadOnly(dir)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := r.CountExamples(Filter{})
		r.Close()
		if n >= 4*killBatch || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s := openT(t, dir)
	if err := s.IntegrityCheck(); err != nil {
		t.Fatal(err)
	}
	n, err := s.CountExamples(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2*killBatch || n%killBatch != 0 {
		t.Fatalf("%d examples survived; want a whole number of %d-row batches, at least the flushed %d", n, killBatch, 2*killBatch)
	}
	// The survivors are exactly the first n requests, intact, and counted once.
	i := 0
	seen := map[string]bool{}
	if err := s.Examples(Filter{}, func(e *Example) error {
		i++
		var k int
		fmt.Sscanf(e.Key, "req-%d", &k)
		if k >= n || seen[e.Key] {
			return fmt.Errorf("unexpected survivor %s", e.Key)
		}
		seen[e.Key] = true
		if d := cmp.Diff(testExample(k), e); d != "" {
			return fmt.Errorf("example %s damaged:\n%s", e.Key, d)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sum, _ := s.Summary()
	if sum.Total.Examples != n {
		t.Errorf("cell totals say %d examples, table has %d", sum.Total.Examples, n)
	}
	t.Logf("%d examples survived the SIGKILL", n)
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenReadOnly(dir); !errors.Is(err, ErrNoStore) {
		t.Errorf("OpenReadOnly of an empty folder = %v, want ErrNoStore", err)
	}
	s := openT(t, dir)
	writeExamples(t, s, 0, 10)
	r, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	writeExamples(t, s, 10, 20) // the writer keeps going while the reader is open
	if n, _ := r.CountExamples(Filter{}); n != 20 {
		t.Errorf("reader sees %d examples, want 20", n)
	}
	cases := map[string]error{
		"KVPut":    r.KVPut("a", "b", 1),
		"CachePut": r.CachePut("h", nil),
		"SetUnit":  r.SetUnit("x", Done, nil),
		"Writer":   r.NewWriter(WriterOptions{}).Close(),
	}
	for name, err := range cases {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only store = %v, want ErrReadOnly", name, err)
		}
	}
	if _, _, err := r.PutArtifact(strings.NewReader("x")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("PutArtifact on a read-only store = %v", err)
	}
}

func TestCacheFileShared(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "cache.db")
	a, err := OpenCache(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenCache(p) // a second experiment at the same time: no lock
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for g, c := range []Cache{a, b} {
		wg.Add(1)
		go func(g int, c Cache) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := c.CachePut(fmt.Sprintf("h%d-%d", g, i), []byte(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}(g, c)
	}
	wg.Wait()
	v, ok, err := a.CacheGet("h1-49")
	if err != nil || !ok || string(v) != `{"i":49}` {
		t.Errorf("CacheGet = %q %v %v", v, ok, err)
	}

	// A cache from a newer polyglot is refused.
	q := filepath.Join(t.TempDir(), "new.db")
	db, _ := sql.Open("sqlite", q)
	if _, err := db.Exec("PRAGMA user_version = 42"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenCache(q); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("OpenCache(newer) = %v", err)
	}
}

func TestNotADatabase(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DBName), bytes.Repeat([]byte("garbage!"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "not a readable SQLite database") {
		t.Errorf("Open(garbage) = %v", err)
	}
	// The failed Open released its lock.
	if _, err := acquireLock(filepath.Join(dir, "lock")); err != nil {
		t.Errorf("lock still held after failed Open: %v", err)
	}
}

// TestDamagedStoreRefused damages one page of a store's examples table, as
// a bad disk sector or a copy cut short would, and expects Open (what
// `polyglot run` does) to refuse it with what to do, touching nothing.
func TestDamagedStoreRefused(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	writeExamples(t, s, 0, 3000)
	s.Close()
	path := filepath.Join(dir, DBName)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 16384
	pages := info.Size() / page
	if pages < 8 {
		t.Fatalf("store too small to damage a middle page: %d pages", pages)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, page), (pages/2)*page); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before := hashFiles(t, dir)
	_, err = Open(dir)
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open(damaged store) = %v, want ErrDamaged", err)
	}
	for _, want := range []string{path, "quick check", "from a backup", ".recover", "move the store folder aside"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if after := hashFiles(t, dir); after != before {
		t.Error("refusing a damaged store changed its files")
	}
	if _, err := acquireLock(filepath.Join(dir, "lock")); err != nil {
		t.Errorf("lock still held after the refused Open: %v", err)
	}
}

func TestSpentUSDSumsEveryRunPerTeacher(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	if got, err := s.SpentUSD(); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v, %v", got, err)
	}
	writeExamples(t, s, 0, 100)
	s.Close()
	// A second run (a new open) adds to what the first spent.
	s = openT(t, dir)
	writeExamples(t, s, 100, 140)
	got, err := s.SpentUSD()
	if err != nil {
		t.Fatal(err)
	}
	// testExample alternates teachers and costs 0.001 each.
	want := map[string]float64{"alpha": 0.070, "beta": 0.070}
	for k, v := range want {
		if math.Abs(got[k]-v) > 1e-9 {
			t.Errorf("SpentUSD()[%s] = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("SpentUSD() = %v, want teachers %v", got, want)
	}
}
