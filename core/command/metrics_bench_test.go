package command_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/polyglot-teachers/polyglot/core/store"
)

// The metrics benchmark: every offline metric on one 100,000-example cell,
// through the real binary and its plugin processes. The acceptance target is
// under 60 s of wall clock for `polyglot run --only stage=metrics` and under
// 1 GiB for the polyglot processes together.
//
//	POLYGLOT_BENCH=1 go test ./core/command -run TestMetricsBench100k -v -timeout 30m
//
// Optional: POLYGLOT_BENCH_N (examples, default 100000), POLYGLOT_BENCH_LANG
// (a quickstart language, default de), POLYGLOT_BENCH_DIR (keep the data and
// the generated store there and reuse them next time), POLYGLOT_BENCH_EACH=0
// (skip the per-metric runs), POLYGLOT_BENCH_BASELINE (another polyglot
// binary, e.g. built from an earlier commit: its metrics stage is measured
// on the same cell right after this one's, and the ratios are logged).

var benchMetrics = []string{"perplexity", "diversity", "duplicates", "length", "langid", "relevance"}

const (
	benchWallBudget = 60 * time.Second
	benchMemBudget  = 1 << 30
)

func TestMetricsBench100k(t *testing.T) {
	if os.Getenv("POLYGLOT_BENCH") != "1" {
		t.Skip("set POLYGLOT_BENCH=1 to run the 100k-example metrics benchmark")
	}
	n := 100000
	if s := os.Getenv("POLYGLOT_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 100 {
			t.Fatalf("POLYGLOT_BENCH_N=%q: want a whole number of examples, at least 100", s)
		}
		n = v
	}
	lang := os.Getenv("POLYGLOT_BENCH_LANG")
	if lang == "" {
		lang = "de"
	}
	dir := os.Getenv("POLYGLOT_BENCH_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	dir, _ = filepath.Abs(dir)
	data := filepath.Join(dir, fmt.Sprintf("cell-%s-%d.jsonl", lang, n))
	if _, err := os.Stat(data); err != nil {
		if err := writeBenchCell(data, lang, n); err != nil {
			t.Fatal(err)
		}
	}
	spec := filepath.Join(repoRoot, "testdata/specs/metrics100k")
	base := filepath.Join(dir, fmt.Sprintf("store-%s-%d", lang, n))
	vars := func(storeDir string) []string {
		return []string{"-var", "data=" + data, "-var", "store=" + storeDir, "-var", "language=" + lang, "-var", "examples=" + strconv.Itoa(n)}
	}

	// A kept store generated under another plan (the unit keys changed with
	// the code) would hold a second copy of the cell: start it afresh.
	genKey := generateUnitKey(t, append(vars(base), spec))
	if _, err := os.Stat(base); err == nil && (!unitDone(t, base, genKey) || countExamples(t, base) != n) {
		t.Logf("the kept store %s was generated under another plan; generating again", base)
		os.RemoveAll(base)
	}
	// Generation is not timed: it only fills the store.
	start := time.Now()
	gen := runMeasured(t, append(append([]string{"run", "--only", "stage=generate"}, vars(base)...), spec)...)
	if gen.code != 0 {
		t.Fatalf("generate failed (%d): %s", gen.code, gen.stderr)
	}
	t.Logf("generate: %v", time.Since(start).Round(time.Millisecond))
	if got := countExamples(t, base); got != n {
		t.Fatalf("the cell holds %d examples, want %d", got, n)
	}

	all := filepath.Join(dir, "store-all")
	copyStore(t, base, all)
	m := runMeasured(t, append(append([]string{"run", "--only", "stage=metrics"}, vars(all)...), spec)...)
	if m.code != 0 {
		t.Fatalf("metrics failed (%d): %s", m.code, m.stderr)
	}
	checkAggregates(t, all, n)
	t.Logf("all six metrics, %d examples (%s): wall %v", n, lang, m.wall.Round(time.Millisecond))
	m.logPeaks(t)
	if bin := os.Getenv("POLYGLOT_BENCH_BASELINE"); bin != "" {
		old := filepath.Join(dir, "store-baseline")
		copyStore(t, base, old)
		b := runMeasuredBin(t, bin, append(append([]string{"run", "--only", "stage=metrics"}, vars(old)...), spec)...)
		if b.code != 0 {
			t.Fatalf("baseline %s failed (%d): %s", bin, b.code, b.stderr)
		}
		// A baseline whose plan keys differ would skip every metric unit.
		checkAggregates(t, old, n)
		t.Logf("baseline %s: wall %v", bin, b.wall.Round(time.Millisecond))
		b.logPeaks(t)
		t.Logf("this binary / baseline: wall %.2f, cpu of all %.2f, peak RSS sum %.2f, largest total at once %.2f",
			m.wall.Seconds()/b.wall.Seconds(), m.cpuAll.Seconds()/b.cpuAll.Seconds(),
			float64(m.sumPeaks())/float64(b.sumPeaks()), float64(m.peakTotal)/float64(b.peakTotal))
		for _, k := range keys(m.peaks) {
			if b.peaks[k] > 0 && b.cpu[k] > 0 {
				t.Logf("  %-28s peak RSS %.2f, cpu %.2f", k, float64(m.peaks[k])/float64(b.peaks[k]), m.cpu[k].Seconds()/b.cpu[k].Seconds())
			}
		}
		os.RemoveAll(old)
	}

	if os.Getenv("POLYGLOT_BENCH_EACH") != "0" {
		for _, name := range benchMetrics {
			one := filepath.Join(dir, "store-"+name)
			copyStore(t, base, one)
			r := runMeasured(t, append(append([]string{"run", "--only", "stage=metrics,metric=" + name}, vars(one)...), spec)...)
			if r.code != 0 {
				t.Fatalf("metric %s failed (%d): %s", name, r.code, r.stderr)
			}
			plug := r.peakOf("internal-plugin " + name)
			t.Logf("%-10s alone: wall %6.2fs; plugin peak RSS %4d MiB, cpu %6.2fs; host peak RSS %4d MiB, cpu %6.2fs; cpu of all %.2fs",
				name, r.wall.Seconds(), plug>>20, r.cpu["internal-plugin "+name].Seconds(), r.peakOf("host")>>20, r.cpu["host"].Seconds(), r.cpuAll.Seconds())
			os.RemoveAll(one)
		}
	}
	os.RemoveAll(all)

	if n == 100000 {
		if m.wall > benchWallBudget {
			t.Errorf("the metrics stage took %v, over the %v budget", m.wall.Round(time.Millisecond), benchWallBudget)
		}
		// The budget is what the machine must hold at once: the largest sum
		// of the processes' RSS sampled at one instant. (The sum of each
		// process's own peak, logged above, adds peaks that never overlap.)
		if s := m.peakTotal; s > benchMemBudget {
			t.Errorf("the polyglot processes held %d MiB together at one instant, over the %d MiB budget", s>>20, benchMemBudget>>20)
		}
	}
}

// writeBenchCell writes n rows {id, language, prompt, response} recombined
// from the quickstart's human texts in lang: prompts of about 300 characters,
// responses of about 600, every prompt distinct. The same n and lang always
// give the same file.
func writeBenchCell(path, lang string, n int) error {
	pool, err := sentencePool(lang)
	if err != nil {
		return err
	}
	if len(pool) < 20 {
		return fmt.Errorf("only %d sentences for %s in the quickstart data; pick another POLYGLOT_BENCH_LANG", len(pool), lang)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	seen := make(map[string]bool, n)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := 0; i < n; i++ {
		prompt := compose(rng, pool, 300)
		for seen[prompt] {
			prompt = compose(rng, pool, 300)
		}
		seen[prompt] = true
		row := map[string]string{
			"id":       fmt.Sprintf("%s-%06d", lang, i),
			"language": lang,
			"prompt":   prompt,
			"response": compose(rng, pool, 600),
		}
		if err := enc.Encode(row); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// compose joins random sentences of the pool until the text reaches about
// size characters.
func compose(rng *rand.Rand, pool []string, size int) string {
	var b strings.Builder
	for b.Len() < size {
		if b.Len() > 0 && !cjk(pool[0]) {
			b.WriteByte(' ')
		}
		b.WriteString(pool[rng.IntN(len(pool))])
	}
	return b.String()
}

func cjk(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
			return true
		}
	}
	return false
}

// sentencePool splits the quickstart seeds' prompts and responses and the
// reference text of lang into sentences.
func sentencePool(lang string) ([]string, error) {
	qs := filepath.Join(repoRoot, "examples/quickstart/data")
	var texts []string
	seedsFile := filepath.Join(qs, "seeds", lang+".jsonl")
	b, err := os.ReadFile(seedsFile)
	if err != nil {
		return nil, fmt.Errorf("benchmark data: %w (POLYGLOT_BENCH_LANG must be a quickstart language)", err)
	}
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r struct{ Prompt, Response string }
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", seedsFile, i+1, err)
		}
		texts = append(texts, r.Prompt, r.Response)
	}
	ref, err := os.ReadFile(filepath.Join(qs, "reference", lang+".txt"))
	if err != nil {
		return nil, err
	}
	texts = append(texts, strings.Split(string(ref), "\n")...)
	seen := map[string]bool{}
	var pool []string
	for _, t := range texts {
		for _, s := range splitSentences(t) {
			if !seen[s] {
				seen[s] = true
				pool = append(pool, s)
			}
		}
	}
	return pool, nil
}

// splitSentences cuts after sentence-final punctuation (Latin, Arabic and
// CJK) followed by a space or the end of a CJK full stop.
func splitSentences(text string) []string {
	var out []string
	rs := []rune(strings.TrimSpace(text))
	start := 0
	for i, r := range rs {
		end := false
		switch r {
		case '。', '！', '？':
			end = true
		case '.', '!', '?', '؟':
			end = i+1 == len(rs) || rs[i+1] == ' '
		}
		if end || i+1 == len(rs) {
			if s := strings.TrimSpace(string(rs[start : i+1])); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	return out
}

// generateUnitKey returns the key of the plan's only generate unit.
func generateUnitKey(t *testing.T, args []string) string {
	t.Helper()
	r := polyglot(t, repoRoot, append([]string{"plan", "--json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	var out struct {
		Units []planUnit `json:"units"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Units {
		if u.Stage == "generate" {
			keys = append(keys, u.Key)
		}
	}
	if len(keys) != 1 {
		t.Fatalf("the benchmark spec should plan one generate unit, got %d", len(keys))
	}
	return keys[0]
}

func unitDone(t *testing.T, dir, key string) bool {
	t.Helper()
	st, err := store.OpenReadOnly(dir)
	if err != nil {
		return false
	}
	defer st.Close()
	u, ok, err := st.Unit(key)
	return err == nil && ok && u.State == store.Done
}

func countExamples(t *testing.T, dir string) int {
	t.Helper()
	st, err := store.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.CountExamples(store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkAggregates checks that every metric measured the whole cell, and
// that the values fit data that is human text recombined (on target, German
// or whatever the language, not empty).
func checkAggregates(t *testing.T, dir string, n int) {
	t.Helper()
	st, err := store.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	aggs, err := st.MetricAggregates()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.MetricAggregate{}
	for _, a := range aggs {
		got[a.Metric] = a
	}
	for _, name := range benchMetrics {
		n0 := 0
		for _, a := range aggs {
			if a.Metric != name && !strings.HasPrefix(a.Metric, name+".") {
				continue
			}
			n0++
			if a.N != n {
				t.Errorf("%s measured %d examples, want %d", a.Metric, a.N, n)
			}
		}
		if n0 == 0 {
			t.Errorf("no aggregate for %s; have %v", name, keys(got))
		}
	}
	for _, c := range []struct {
		metric string
		min    float64
	}{
		// Recombined human text in the cell's language: on target, fluent
		// to the reference model, and neither empty nor degenerate.
		{"langid", 0.9},
		{"perplexity", 1},
		{"length.response_chars", 500},
		{"diversity.response", 0.01},
		{"relevance", 0.01},
	} {
		if v := got[c.metric].Value; !(v >= c.min) {
			t.Errorf("%s = %g, want at least %g", c.metric, v, c.min)
		}
	}
	for _, name := range []string{"perplexity", "diversity.response", "duplicates", "length.response_tokens", "langid", "relevance"} {
		t.Logf("%-24s %.4g", name, got[name].Value)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// copyStore copies a store folder (database, WAL, artifacts) so each
// measured run starts from the same generated cell. The lock file is not
// copied: a fresh one is made on open.
func copyStore(t *testing.T, from, to string) {
	t.Helper()
	os.RemoveAll(to)
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if rel == "lock" {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

type measured struct {
	result
	wall time.Duration
	// peaks maps a process (host, or "internal-plugin NAME") to its peak
	// resident set (VmHWM), in bytes; the same plugin run twice counts its
	// larger peak.
	peaks map[string]int64
	// peakTotal is the largest sum of the processes' current resident sets
	// seen at one sample: what the run held at once.
	peakTotal int64
	// cpu is each process's CPU time (user + system) at its last sample;
	// cpuAll is the host's and its reaped plugins' together, from rusage.
	// On a shared machine CPU time varies less than wall clock.
	cpu    map[string]time.Duration
	cpuAll time.Duration
}

func (m measured) peakOf(name string) int64 { return m.peaks[name] }

func (m measured) sumPeaks() int64 {
	var s int64
	for _, v := range m.peaks {
		s += v
	}
	return s
}

func (m measured) logPeaks(t *testing.T) {
	t.Helper()
	for _, k := range keys(m.peaks) {
		t.Logf("  %-28s peak RSS %5d MiB  cpu %6.2fs", k, m.peaks[k]>>20, m.cpu[k].Seconds())
	}
	t.Logf("  peak RSS sum of processes %5d MiB; largest total at one instant %d MiB; cpu of all %.2fs", m.sumPeaks()>>20, m.peakTotal>>20, m.cpuAll.Seconds())
}

// runMeasured runs the binary and samples /proc for it and its descendants
// every 20 ms: VmHWM (each process's own peak, kept by the kernel, so a
// sample just before exit still sees it) and VmRSS (for the total at once).
func runMeasured(t *testing.T, args ...string) measured {
	t.Helper()
	return runMeasuredBin(t, polyglotBin, args...)
}

func runMeasuredBin(t *testing.T, bin string, args ...string) measured {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "POLYGLOT_LOG=warn", "POLYGLOT_CACHE=off")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := measured{peaks: map[string]int64{}, cpu: map[string]time.Duration{}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var total int64
			for pid, p := range descendants(cmd.Process.Pid) {
				hwm, rss := procMem(pid)
				name := p.name
				if name == "exited" {
					continue
				}
				if pid == cmd.Process.Pid {
					name = "host"
				}
				m.peaks[name] = max(m.peaks[name], hwm)
				m.cpu[name] = max(m.cpu[name], p.cpu)
				total += rss
			}
			m.peakTotal = max(m.peakTotal, total)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	m.wall = time.Since(start)
	close(done)
	wg.Wait()
	// The host reaps its plugins, so its rusage covers them too.
	m.cpuAll = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	m.stdout, m.stderr = out.String(), errb.String()
	if ee, ok := err.(*exec.ExitError); ok {
		m.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return m
}

type proc struct {
	name string
	cpu  time.Duration // user + system time so far
}

// descendants returns root and every process below it, each named by its
// command line after the binary ("internal-plugin perplexity", ...).
func descendants(root int) map[int]proc {
	children := map[int][]int{}
	cpu := map[int]time.Duration{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The parent pid is the second field after the parenthesised name.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
		if len(f) > 12 {
			// utime and stime, in clock ticks of 1/100 s (USER_HZ on Linux).
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			cpu[pid] = time.Duration(u+s) * 10 * time.Millisecond
		}
	}
	out := map[int]proc{}
	var walk func(int)
	walk = func(p int) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
		parts := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		name := filepath.Base(parts[0])
		if parts[0] == "" {
			name = "exited"
		}
		if len(parts) >= 3 && parts[1] == "internal-plugin" {
			name = "internal-plugin " + parts[2]
		} else if len(parts) >= 2 {
			name += " " + parts[1]
		}
		out[p] = proc{name, cpu[p]}
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(root)
	return out
}

// procMem reads VmHWM and VmRSS of pid, in bytes (0 once it has exited).
func procMem(pid int) (hwm, rss int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if k == "VmHWM" {
			hwm = kb << 10
		} else {
			rss = kb << 10
		}
	}
	return hwm, rss
}
