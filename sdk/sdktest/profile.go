package sdktest

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// ProfileCell runs a metric component on a real cell file over in-process
// gRPC, the way the host does (batches of 256), and logs its time, live
// heap and peak RSS: the harness behind each metric's TestCellProfile. The
// cell is a JSONL file of {id, language, prompt, response} named by
// POLYGLOT_BENCH_CELL (the metrics benchmark in core/command writes one);
// without it the test is skipped. Add -cpuprofile to profile; set
// POLYGLOT_BENCH_HEAPPROFILE=file for the live heap before Finish.
func ProfileCell(t testing.TB, m sdk.Metric, attrs map[string]cty.Value) {
	t.Helper()
	name := m.Describe().Name
	path := os.Getenv("POLYGLOT_BENCH_CELL")
	if path == "" {
		t.Skip("set POLYGLOT_BENCH_CELL to a cell JSONL (id, language, prompt, response) to profile")
	}
	// The cell is streamed from the file, batch by batch, as the host does,
	// so that the process's peak RSS is about the component's.
	next, lang := cellBatches(t, path, 256)
	debug.SetMemoryLimit(800 << 20) // as the host's internal plugins do
	c := Start(t, sdk.ServeOpts{Name: name, Version: "1", Metrics: []sdk.Metric{m}})
	cfg := Config(t, m.Describe().Schema, attrs)
	start := time.Now()
	ms, d, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: name, Config: cfg, Language: lang})
	if err != nil || d.HasErrors() {
		t.Fatalf("open: %v %v", err, d.Err())
	}
	opened := time.Now()
	n := 0
	for batch := next(); len(batch) > 0; batch = next() {
		if _, err := ms.Add(batch); err != nil {
			t.Fatal(err)
		}
		n += len(batch)
	}
	runtime.GC()
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	if hp := os.Getenv("POLYGLOT_BENCH_HEAPPROFILE"); hp != "" {
		f, err := os.Create(hp)
		if err != nil {
			t.Fatal(err)
		}
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	_, agg, err := ms.Finish()
	if err != nil {
		t.Fatal(err)
	}
	status, _ := os.ReadFile("/proc/self/status")
	hwm := ""
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			hwm = strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	t.Logf("%d examples: open %v, add+finish %v; live heap before Finish %d MiB; peak RSS of the test process %s; aggregate %v",
		n, opened.Sub(start).Round(time.Millisecond), time.Since(opened).Round(time.Millisecond), st.HeapAlloc>>20, hwm, agg.Values)
}

// cellBatches returns a function giving the file's next batch of up to
// size examples (none at the end), and the first example's language.
func cellBatches(t testing.TB, path string, size int) (func() []sdk.Example, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	line := 0
	read := func() (sdk.Example, bool) {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			return sdk.Example{}, false
		}
		line++
		var e sdk.Example
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		return e, true
	}
	first, ok := read()
	if !ok {
		t.Fatalf("%s has no examples", path)
	}
	pending := []sdk.Example{first}
	return func() []sdk.Example {
		batch := pending
		pending = nil
		for len(batch) < size {
			e, ok := read()
			if !ok {
				break
			}
			batch = append(batch, e)
		}
		return batch
	}, first.Language
}
