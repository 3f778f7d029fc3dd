package compose

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
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/polyglot-teachers/polyglot/core/export"
	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// The composition benchmark: a store of 1.4 M rows in 60 cells (6 teachers
// × 10 languages), composed with every teacher pooled in every language
// (so every row goes through the filters), exact and near-duplicate
// removal and decontamination against 20,000 benchmark items, against a
// plain export of the same rows. Each phase runs in its own child process
// so that its peak RSS (VmHWM) is its own:
//
//	nice go test ./core/compose -run '^$' -bench Compose -benchtime 1x
//
// POLYGLOT_BENCH_N overrides the 1.4 million rows; POLYGLOT_BENCH_CPUPROFILE
// names a file for the compose child's CPU profile.
func TestMain(m *testing.M) {
	if phase := os.Getenv("POLYGLOT_COMPOSE_CHILD"); phase != "" {
		if p := os.Getenv("POLYGLOT_BENCH_CPUPROFILE"); p != "" && phase == "compose" {
			if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
		r, err := benchChild(phase, os.Getenv("POLYGLOT_BENCH_DIR"))
		pprof.StopCPUProfile()
		if err != nil {
			fmt.Fprintln(os.Stderr, phase+":", err)
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(r)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var (
	benchTeachers = []string{"gemma-3-27b", "llama-3.1-70b", "aya-expanse-32b", "qwen-3-32b", "gpt-4o", "command-a"}
	benchLangs    = []string{"ar", "cs", "de", "es", "id", "ja", "sw", "tl", "tr", "vi"}
)

type benchReport struct {
	Rows       int     `json:"rows"`
	Seconds    float64 `json:"s"`
	CPUSec     float64 `json:"cpu_s"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	Kept       int     `json:"kept,omitempty"`
	Duplicates int     `json:"duplicates,omitempty"`
	Near       int     `json:"near_duplicates,omitempty"`
	Contam     int     `json:"contaminated,omitempty"`
}

// wordPool is deterministic filler text over a vocabulary; items use
// another vocabulary, so only planted quotes overlap them.
func wordPool(seed uint64, words []string, size int) string {
	r := rand.New(rand.NewPCG(seed, seed+1))
	var b strings.Builder
	for b.Len() < size {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()
}

var (
	rowWords  = strings.Fields("the model answers question carefully because reasoning matters Die Antwort lautet dass wir heute über Sprache sprechen möchten la respuesta correcta depende del contexto cultural jawaban yang benar adalah مرحبا كيف حالك اليوم odpověď je správná protože")
	itemWords = strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu")
)

func cutText(pool string, off, n int) string {
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

func benchItem(pool string, i int) string { return cutText(pool, i*7919, 200) }

// buildBenchStore writes n rows: ~300-character prompts and ~600-character
// responses; every 50th row index repeats across the teachers of a
// language (five near copies of the first teacher's row, one word
// changed), and every 1000th row quotes a benchmark item.
func buildBenchStore(dir string, n int) error {
	s, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		return err
	}
	defer s.Close()
	pool := wordPool(1, rowWords, 1<<20)
	items := wordPool(7, itemWords, 1<<20)
	w := s.NewWriter(store.WriterOptions{BatchRows: 4000, BatchInterval: 2 * time.Second})
	cells := len(benchTeachers) * len(benchLangs)
	per := n / cells
	for c := range cells {
		t, l := benchTeachers[c/len(benchLangs)], benchLangs[c%len(benchLangs)]
		for idx := range per {
			i := c*per + idx
			h := sha256.Sum256([]byte(strconv.Itoa(i)))
			e := &store.Example{Key: hex.EncodeToString(h[:]), Unit: fmt.Sprintf("gen/%s/%s/respond/1", t, l),
				Teacher: t, Model: t, Language: l, Strategy: "respond", Seed: 1, SeedRowID: strconv.Itoa(idx), Idx: idx,
				Prompt: cutText(pool, i*7919, 300), Response: cutText(pool, i*104729+13, 600), Params: json.RawMessage(`{"temperature":0.8}`)}
			switch {
			case idx%1000 == 999:
				e.Response = cutText(pool, i*104729+13, 300) + " " + benchItem(items, idx/1000) + " " + cutText(pool, i*31, 100)
			case idx%50 == 0:
				// the same row index in every teacher of the language
				j := (c%len(benchLangs))*per + idx
				e.Prompt, e.Response = cutText(pool, j*7919, 300), cutText(pool, j*104729+13, 600)
				if c >= len(benchLangs) {
					e.Response = strings.Replace(e.Response, " ", " "+t+" ", 1)
				}
			}
			if err := w.Example(e); err != nil {
				return err
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "bench.jsonl"))
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	for i := range 20000 {
		b, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("item-%d", i), "question": benchItem(items, i), "choices": []string{"a", "b"}})
		bw.Write(append(b, '\n'))
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func benchChild(phase, dir string) (*benchReport, error) {
	st, err := store.OpenReadOnly(filepath.Join(dir, "store"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	start := time.Now()
	r := &benchReport{}
	switch phase {
	case "export":
		out := filepath.Join(dir, "export")
		res, err := export.Export(st, export.Options{JSONL: filepath.Join(out, "train.jsonl"), Parquet: filepath.Join(out, "train.parquet"), Card: filepath.Join(out, "README.md")})
		if err != nil {
			return nil, err
		}
		r.Rows = res.Examples
	case "compose":
		table := map[string]float64{}
		for _, t := range benchTeachers {
			table[t] = 1
		}
		d := &spec.Dataset{Name: "bench", Rule: "table", Table: map[string]map[string]float64{"*": table}, HeldOut: 0.05, SplitSeed: 1, Langid: "off", System: "none", License: "other",
			Dedup:         spec.DatasetDedup{Exact: true, Near: true, Threshold: 0.8, Shingle: 5},
			Decontaminate: &spec.DatasetDecontaminate{Files: []string{filepath.Join(dir, "bench.jsonl")}, NGram: 13, MinTokens: 6}}
		plans := Select(d, &score.Result{}, benchLangs, nil)
		sum, err := st.Summary()
		if err != nil {
			return nil, err
		}
		avail := Available{}
		for _, c := range sum.Cells {
			avail[[3]string{c.Teacher, c.Language, c.Strategy}] += c.Examples
		}
		Plan(plans, avail, nil, 0, false)
		res, err := Run(Options{Dataset: d, Plans: plans, Source: st, Out: filepath.Join(dir, "compose"), JSONL: true, Parquet: true})
		if err != nil {
			return nil, err
		}
		for _, l := range res.Languages {
			r.Rows += l.Read
			r.Kept += l.Kept
			r.Duplicates += l.Dropped[DropDuplicate]
			r.Near += l.Dropped[DropNearDuplicate]
			r.Contam += l.Dropped[DropContaminated]
		}
	default:
		return nil, fmt.Errorf("unknown phase %q", phase)
	}
	r.Seconds = time.Since(start).Seconds()
	r.PeakRSSMiB = vmHWM()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		r.CPUSec = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	return r, nil
}

func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return -1
}

func runChild(t testing.TB, phase, dir string) *benchReport {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), "POLYGLOT_COMPOSE_CHILD="+phase, "POLYGLOT_BENCH_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s child: %v", phase, err)
	}
	var r benchReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%s child said %q: %v", phase, out, err)
	}
	return &r
}

// TestComposeBenchSmall runs the benchmark's pipeline on 12,000 rows, so
// its code stays honest in the default test run.
func TestComposeBenchSmall(t *testing.T) {
	dir := t.TempDir()
	if err := buildBenchStore(dir, 12000); err != nil {
		t.Fatal(err)
	}
	ex, co := runChild(t, "export", dir), runChild(t, "compose", dir)
	// 200 rows per cell: indexes 0, 50, 100, 150 repeat in six teachers
	// (5 × 4 × 10 dropped); no index reaches 999, so nothing is contaminated.
	if ex.Rows != 12000 || co.Rows != 12000 || co.Duplicates+co.Near != 200 || co.Kept != 11800 || co.Contam != 0 {
		t.Errorf("export %+v, compose %+v", ex, co)
	}
}

func BenchmarkCompose(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("POLYGLOT_BENCH_N"))
	if n <= 0 {
		n = 1_400_000
	}
	dir := b.TempDir()
	t0 := time.Now()
	if err := buildBenchStore(dir, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("store of %d rows written in %.1fs", n, time.Since(t0).Seconds())
	b.ResetTimer()
	for range b.N {
		ex := runChild(b, "export", dir)
		co := runChild(b, "compose", dir)
		b.ReportMetric(ex.Seconds, "export-s")
		b.ReportMetric(co.Seconds, "compose-s")
		b.ReportMetric(co.Seconds/ex.Seconds, "time-ratio")
		b.ReportMetric(ex.PeakRSSMiB, "export-RSS-MiB")
		b.ReportMetric(co.PeakRSSMiB, "compose-RSS-MiB")
		b.ReportMetric(co.PeakRSSMiB/ex.PeakRSSMiB, "RSS-ratio")
		b.Logf("export %+v", *ex)
		b.Logf("compose %+v", *co)
	}
}
