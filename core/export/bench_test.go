package export

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/polyglot-teachers/polyglot/core/store"
)

// The study benchmark runs in a child process so that its peak RSS
// (VmHWM) is its own and not the test binary's:
//
//	go test ./core/export -run '^$' -bench Study -benchtime 1x
//
// POLYGLOT_BENCH_N overrides the 1.4 million examples; POLYGLOT_BENCH_CPUPROFILE
// names a file for the child's CPU profile.
func TestMain(m *testing.M) {
	if os.Getenv("POLYGLOT_EXPORT_CHILD") == "study" {
		n, _ := strconv.Atoi(os.Getenv("POLYGLOT_BENCH_N"))
		if p := os.Getenv("POLYGLOT_BENCH_CPUPROFILE"); p != "" {
			f, err := os.Create(p)
			if err == nil && pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
		r, err := runStudy(n, os.Getenv("POLYGLOT_BENCH_DIR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "study:", err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(r)
		pprof.StopCPUProfile()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type studyReport struct {
	Examples     int     `json:"examples"`
	WriteSec     float64 `json:"write_s"`
	ResumeKeys   int     `json:"resume_keys"`
	ResumeMS     float64 `json:"resume_ms"`
	ExportSec    float64 `json:"export_s"`
	TotalSec     float64 `json:"total_s"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	WriteRSSMiB  float64 `json:"write_peak_rss_mib"` // VmHWM after the write phase
	WriteCPUSec  float64 `json:"write_cpu_s"`
	GoSysMiB     float64 `json:"go_sys_mib"` // memory the Go runtime holds (the rest of RSS is SQLite's C heap and page cache)
	DBMiB        float64 `json:"db_mib"`
	JSONLMiB     float64 `json:"jsonl_mib"`
	ParquetMiB   float64 `json:"parquet_mib"`
	CPUSec       float64 `json:"cpu_s"`
	ExportedRows int     `json:"exported_rows"`
}

// textPool is deterministic multilingual filler from which prompts and
// responses are cut, so the data compresses like real text, not like "xxxx".
func textPool() string {
	words := strings.Fields("the model answers question carefully because reasoning matters " +
		"Die Antwort lautet dass wir heute über Sprache sprechen möchten " +
		"la respuesta correcta depende del contexto cultural " +
		"jawaban yang benar adalah " + "日本語 の 文章 を 書いて ください " +
		"مرحبا كيف حالك اليوم " + "odpověď je správná protože")
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < 1<<20 {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()
}

func cut(pool string, off, n int) string {
	off %= len(pool) - 2*n
	for !utf8.RuneStart(pool[off]) {
		off++
	}
	end := off + n
	for end < len(pool) && !utf8.RuneStart(pool[end]) {
		end++
	}
	return pool[off:end]
}

func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return -1
}

func fileMiB(p string) float64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return float64(st.Size()) / (1 << 20)
}

// runStudy stores n examples (~300-char prompts, ~600-char responses) of
// 4 teachers x 7 languages x 3 strategies through the Writer from two
// producer goroutines, times a resume check over 100k examples' done keys,
// then exports everything to Parquet and JSONL.
func runStudy(n int, dir string) (*studyReport, error) {
	if n <= 0 {
		n = 1_400_000
	}
	start := time.Now()
	s, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	teachers := []string{"gemma-3-27b", "llama-3.1-70b", "aya-expanse-32b", "qwen-3-32b"}
	langs := []string{"ar", "cs", "de", "es", "id", "ja", "tl"}
	strats := []string{"generate", "translate", "respond"}
	type cellT struct{ t, l, s string }
	var cells []cellT
	for _, t := range teachers {
		for _, l := range langs {
			for _, st := range strats {
				cells = append(cells, cellT{t, l, st})
			}
		}
	}
	pool := textPool()
	const unitSize = 3500
	unitOf := func(c cellT, idx int) string { return fmt.Sprintf("gen/%s/%s/%s/1/%d", c.t, c.l, c.s, idx/unitSize) }
	w := s.NewWriter(store.WriterOptions{BatchRows: 4000, BatchInterval: 2 * time.Second})
	var wg sync.WaitGroup
	var werr error
	var once sync.Once
	const producers = 2
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := p; i < n; i += producers {
				c := cells[(i/unitSize)%len(cells)]
				idx := (i/(unitSize*len(cells)))*unitSize + i%unitSize
				h := sha256.Sum256([]byte(strconv.Itoa(i)))
				e := &store.Example{
					Key: hex.EncodeToString(h[:]), Unit: unitOf(c, idx),
					Teacher: c.t, Model: c.t, Language: c.l, Strategy: c.s, Seed: 1,
					SeedRowID: strconv.Itoa(i % 50000), Idx: idx,
					Prompt: cut(pool, i*7919, 300), Response: cut(pool, i*104729+13, 600),
					Params:      json.RawMessage(`{"temperature":0.8,"top_p":0.9}`),
					InputTokens: 90, OutputTokens: 180, Latency: 800 * time.Millisecond, CostUSD: 0.0002,
				}
				if err := w.Example(e); err != nil {
					once.Do(func() { werr = err })
					return
				}
			}
		}(p)
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, werr
	}
	r := &studyReport{Examples: n, WriteSec: time.Since(start).Seconds(), WriteRSSMiB: vmHWM(), WriteCPUSec: cpuSeconds()}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.GoSysMiB = float64(ms.Sys) / (1 << 20)
	if os.Getenv("POLYGLOT_BENCH_SHOWMEM") != "" {
		b, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Rss") || strings.HasPrefix(l, "Vm") {
				fmt.Fprintln(os.Stderr, l)
			}
		}
	}

	// Resume check: the done keys of units until 100k examples are covered.
	t0 := time.Now()
	units := map[string]bool{}
	for i := 0; i < n && len(units)*unitSize < 100_000; i += unitSize {
		c := cells[(i/unitSize)%len(cells)]
		units[unitOf(c, (i/(unitSize*len(cells)))*unitSize)] = true
	}
	for u := range units {
		d, err := s.DoneRequests(u)
		if err != nil {
			return nil, err
		}
		r.ResumeKeys += len(d)
	}
	r.ResumeMS = float64(time.Since(t0).Microseconds()) / 1000

	t1 := time.Now()
	out := filepath.Join(dir, "out")
	res, err := Export(s, Options{JSONL: filepath.Join(out, "train.jsonl"), Parquet: filepath.Join(out, "train.parquet"), Card: filepath.Join(out, "README.md")})
	if err != nil {
		return nil, err
	}
	r.ExportedRows = res.Examples
	r.ExportSec = time.Since(t1).Seconds()
	r.TotalSec = time.Since(start).Seconds()
	r.PeakRSSMiB = vmHWM()
	r.CPUSec = cpuSeconds()
	r.DBMiB = fileMiB(filepath.Join(dir, "store", store.DBName)) + fileMiB(filepath.Join(dir, "store", store.DBName+"-wal"))
	r.JSONLMiB = fileMiB(filepath.Join(out, "train.jsonl"))
	r.ParquetMiB = fileMiB(filepath.Join(out, "train.parquet"))
	return r, nil
}

func runStudyChild(t testing.TB, n int) *studyReport {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), "POLYGLOT_EXPORT_CHILD=study", "POLYGLOT_BENCH_N="+strconv.Itoa(n), "POLYGLOT_BENCH_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("study child: %v", err)
	}
	var r studyReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("study child said %q: %v", out, err)
	}
	return &r
}

// A small run of the same pipeline keeps the benchmark's code honest in
// the default test run.
func TestStudyPipelineSmall(t *testing.T) {
	r := runStudyChild(t, 30_000)
	if r.ExportedRows != 30_000 || r.ResumeKeys < 30_000 || r.PeakRSSMiB <= 0 || r.ParquetMiB <= 0 || r.JSONLMiB <= r.ParquetMiB {
		t.Errorf("report = %+v", r)
	}
	t.Logf("%+v", r)
}

func BenchmarkStudy(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("POLYGLOT_BENCH_N"))
	if n <= 0 {
		n = 1_400_000
	}
	for i := 0; i < b.N; i++ {
		r := runStudyChild(b, n)
		b.ReportMetric(r.WriteSec, "write-s")
		b.ReportMetric(r.ExportSec, "export-s")
		b.ReportMetric(r.TotalSec, "total-s")
		b.ReportMetric(r.CPUSec, "cpu-s")
		b.ReportMetric(r.PeakRSSMiB, "peak-RSS-MiB")
		b.ReportMetric(r.ResumeMS, "resume100k-ms")
		b.ReportMetric(r.WriteCPUSec, "write-cpu-s")
		b.Logf("%+v", *r)
	}
}
