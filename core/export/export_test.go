package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"

	"github.com/polyglot-teachers/polyglot/core/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixtureExamples is a small study: 2 teachers x 2 languages x 2 strategies,
// with text that needs escaping (quotes, newlines, "<", "|", non-ASCII).
func fixtureExamples() []*store.Example {
	var out []*store.Example
	i := 0
	for _, t := range []string{"gemma", "aya"} {
		for _, l := range []string{"de", "ja"} {
			for _, s := range []string{"respond", "generate"} {
				for idx := 0; idx < 2; idx++ {
					out = append(out, &store.Example{
						Key:     fmt.Sprintf("k%02d-%s-%s-%s-%d", i, t, l, s, idx),
						Unit:    fmt.Sprintf("gen/%s/%s/%s/1", t, l, s),
						Teacher: t, Model: t + "-v1", Language: l, Strategy: s, Seed: 1, Idx: idx,
						Prompt:      fmt.Sprintf("Frage %d: \"Warum?\"\nÄußere dich | <kurz> & klar. 日本語", i),
						Response:    fmt.Sprintf("Antwort %d — weil.", i),
						InputTokens: 10, OutputTokens: 5,
					})
					i++
				}
			}
		}
	}
	return out
}

func newStore(t *testing.T, exs []*store.Example) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := s.NewWriter(store.WriterOptions{})
	for _, e := range exs {
		if err := w.Example(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return s
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run `go test ./core/export -run %s -update` to create it)", err, t.Name())
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, d)
	}
}

func exportAll(t *testing.T, src Source, dir string, opts Options) *Result {
	t.Helper()
	opts.JSONL = filepath.Join(dir, "data", "train.jsonl")
	opts.Parquet = filepath.Join(dir, "data", "train.parquet")
	opts.Card = filepath.Join(dir, "README.md")
	res, err := Export(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestExportGoldenAndFormats(t *testing.T) {
	s := newStore(t, fixtureExamples())
	if err := s.PutMetricAggregate(
		store.MetricAggregate{Metric: "judge", Teacher: "gemma", Language: "de", Seed: 1, Value: 4.25, Direction: "higher", N: 4},
		store.MetricAggregate{Metric: "judge", Teacher: "aya", Language: "de", Strategy: "respond", Seed: 1, Value: 3.5, Direction: "higher", N: 2},
	); err != nil {
		t.Fatal(err)
	}
	aggs, err := s.MetricAggregates()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	system := func(e *store.Example) string {
		if e.Strategy == "respond" {
			return "Du bist ein Experte für " + e.Language + "."
		}
		return ""
	}
	res := exportAll(t, s, dir, Options{Name: "Tiny | test", License: "cc-by-4.0", Description: "A fixture.", Metrics: aggs, RowGroupRows: 5,
		MetricsFile: filepath.Join(dir, "metrics.csv"), System: system})

	if res.Examples != 16 || len(res.Cells) != 8 || !cmp.Equal(res.Teachers, []string{"aya", "gemma"}) || !cmp.Equal(res.Languages, []string{"de", "ja"}) {
		t.Errorf("result = %+v", res)
	}
	jl, _ := os.ReadFile(filepath.Join(dir, "data", "train.jsonl"))
	card, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	golden(t, "train.jsonl", jl)
	golden(t, "README.md", card)
	metrics, _ := os.ReadFile(filepath.Join(dir, "metrics.csv"))
	golden(t, "metrics.csv", metrics)

	// Every JSONL line is a chat record; the Parquet file holds the same rows.
	var fromJSON []Record
	sc := bufio.NewScanner(bytes.NewReader(jl))
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad JSONL line %q: %v", sc.Text(), err)
		}
		if len(r.Messages) != 2 || r.Messages[0].Role != "user" || r.Messages[1].Role != "assistant" {
			t.Fatalf("bad messages %+v", r.Messages)
		}
		fromJSON = append(fromJSON, r)
	}
	fromParquet, err := parquet.ReadFile[Record](filepath.Join(dir, "data", "train.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(fromJSON, fromParquet); d != "" {
		t.Errorf("parquet rows differ from JSONL (-jsonl +parquet):\n%s", d)
	}
	// Row groups are bounded: 16 rows at 5 per group = 4 groups.
	f, _ := os.Open(filepath.Join(dir, "data", "train.parquet"))
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pf.RowGroups()); n != 4 {
		t.Errorf("%d row groups, want 4", n)
	}
	// No temporary files are left behind.
	tmp, _ := filepath.Glob(filepath.Join(dir, "*", ".*.tmp-*"))
	tmp2, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if len(tmp)+len(tmp2) > 0 {
		t.Errorf("temporary files left: %v %v", tmp, tmp2)
	}
}

// The same examples, written in another order into another store, export
// to byte-identical files.
func TestExportDeterministic(t *testing.T) {
	exs := fixtureExamples()
	rev := make([]*store.Example, len(exs))
	for i, e := range exs {
		rev[len(exs)-1-i] = e
	}
	a, b := t.TempDir(), t.TempDir()
	exportAll(t, newStore(t, exs), a, Options{RowGroupRows: 3})
	exportAll(t, newStore(t, rev), b, Options{RowGroupRows: 3})
	for _, f := range []string{"data/train.jsonl", "data/train.parquet", "README.md"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two exports of the same data (%d vs %d bytes)", f, len(x), len(y))
		}
	}
}

type failingSource struct {
	after int
	inner Source
}

func (f failingSource) Examples(fl store.Filter, fn func(*store.Example) error) error {
	n := 0
	return f.inner.Examples(fl, func(e *store.Example) error {
		if n == f.after {
			return errors.New("store went away")
		}
		n++
		return fn(e)
	})
}

func TestExportFailureLeavesOldFilesAlone(t *testing.T) {
	s := newStore(t, fixtureExamples())
	dir := t.TempDir()
	old := filepath.Join(dir, "train.jsonl")
	if err := os.WriteFile(old, []byte("previous export\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Export(failingSource{after: 7, inner: s}, Options{JSONL: old, Parquet: filepath.Join(dir, "train.parquet"), Card: filepath.Join(dir, "README.md")})
	if err == nil || !strings.Contains(err.Error(), "store went away") {
		t.Fatalf("Export = %v, want the source's error", err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !cmp.Equal(names, []string{"train.jsonl"}) {
		t.Errorf("folder holds %v after a failed export, want only the old train.jsonl", names)
	}
	if b, _ := os.ReadFile(old); string(b) != "previous export\n" {
		t.Errorf("old file changed: %q", b)
	}
}

func TestExportOptions(t *testing.T) {
	s := newStore(t, fixtureExamples())
	if _, err := Export(s, Options{}); err == nil || !strings.Contains(err.Error(), "nothing to write") {
		t.Errorf("no outputs: %v", err)
	}
	dir := t.TempDir()
	res, err := Export(s, Options{Filter: store.Filter{Teachers: []string{"aya"}, Languages: []string{"ja"}}, JSONL: filepath.Join(dir, "x.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Examples != 4 || len(res.Files) != 1 {
		t.Errorf("filtered export = %+v", res)
	}
	// A path whose folder cannot be created fails clearly.
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o644)
	if _, err := Export(s, Options{JSONL: filepath.Join(blocker, "sub", "x.jsonl")}); err == nil || !strings.Contains(err.Error(), "cannot create the folder") {
		t.Errorf("bad folder: %v", err)
	}
}

func TestSizeCategory(t *testing.T) {
	for n, want := range map[int]string{0: "n<1K", 999: "n<1K", 1000: "1K<n<10K", 10_500: "10K<n<100K", 420_000: "100K<n<1M", 1_400_000: "1M<n<10M"} {
		if got := SizeCategory(n); got != want {
			t.Errorf("SizeCategory(%d) = %q, want %q", n, got, want)
		}
	}
}

// The card of an "other" licence names the licence and links the licence
// note written next to it; its config reads one file, so `datasets` does
// not load every row twice from the two formats; the system prompt can be
// the first turn of messages.
func TestCardLicenceConfigsAndSystemTurn(t *testing.T) {
	s := newStore(t, fixtureExamples())
	dir := t.TempDir()
	res := exportAll(t, s, dir, Options{LicenseFile: filepath.Join(dir, "LICENSE.md"), SystemTurn: true,
		System: func(e *store.Example) string { return "system for " + e.Language }})
	card, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	front, _, _ := strings.Cut(strings.TrimPrefix(string(card), "---\n"), "\n---\n")
	for _, want := range []string{
		`license: "other"`, `license_name: "` + DefaultLicenseName + `"`, `license_link: "LICENSE.md"`,
		"configs:\n- config_name: default\n  data_files:\n  - split: train\n    path: \"data/train.parquet\"",
	} {
		if !strings.Contains(front, want) {
			t.Errorf("front matter lacks %q:\n%s", want, front)
		}
	}
	note, err := os.ReadFile(filepath.Join(dir, "LICENSE.md"))
	if err != nil || !strings.Contains(string(note), "- aya\n- gemma\n") {
		t.Errorf("licence note = %q, %v", note, err)
	}
	if len(res.Systems) != 4 { // 2 languages x 2 strategies
		t.Errorf("systems = %+v", res.Systems)
	}
	jl, _ := os.ReadFile(filepath.Join(dir, "data", "train.jsonl"))
	first, _, _ := strings.Cut(string(jl), "\n")
	var r Record
	if err := json.Unmarshal([]byte(first), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Messages) != 3 || r.Messages[0].Role != "system" || r.Messages[0].Content != r.System || r.System != "system for "+r.Language {
		t.Errorf("first row = %+v", r)
	}
}

// A killed export leaves its temporary files behind; the next export into
// the folder removes them. Two exports never write into one folder at once.
func TestStaleTemporaryFilesAndConcurrentExports(t *testing.T) {
	s := newStore(t, fixtureExamples())
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	stale := []string{
		filepath.Join(dir, "data", ".train.jsonl.tmp-123"),
		filepath.Join(dir, "data", ".train.parquet.tmp-456"),
		filepath.Join(dir, ".README.md.tmp-789"),
	}
	for _, p := range stale {
		os.WriteFile(p, []byte("half"), 0o644)
	}
	other := filepath.Join(dir, ".someone-elses.tmp-1") // not an output of ours
	os.WriteFile(other, nil, 0o644)
	exportAll(t, s, dir, Options{})
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there after the next export", p)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not an export's was removed: %v", err)
	}

	// While one export holds the folder, another is refused.
	unlock, err := lockOutputs(Options{Card: filepath.Join(dir, "README.md")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Export(s, Options{Card: filepath.Join(dir, "README.md")})
	if err == nil || !strings.Contains(err.Error(), "another export is writing") {
		t.Errorf("concurrent export: err = %v", err)
	}
	unlock()
	if _, err := Export(s, Options{Card: filepath.Join(dir, "README.md")}); err != nil {
		t.Errorf("after the first export released the folder: %v", err)
	}
}

// TestControlsLeftOutByDefault: rows of negative controls and their reference data are
// not training data; an export leaves them out and says so in the card, and only an
// explicit IncludeControls exports them, marked in the control column of both formats.
func TestControlsLeftOutByDefault(t *testing.T) {
	exs := fixtureExamples()
	for i, tc := range []string{"scrambled", "human"} {
		for idx := range 3 {
			exs = append(exs, &store.Example{Key: fmt.Sprintf("c%d-%d", i, idx), Unit: "gen/" + tc + "/de/respond/1", Teacher: tc, Model: "dataset",
				Language: "de", Strategy: "respond", Seed: 1, Idx: idx, Prompt: "Wie spät ist es?", Response: "Uhr acht es ist."})
		}
	}
	s := newStore(t, exs)
	roles := map[string]string{"scrambled": "control", "human": "reference"}
	rows := func(dir string) []Record {
		b, err := os.ReadFile(filepath.Join(dir, "data", "train.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var out []Record
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}

	dir := t.TempDir()
	res := exportAll(t, s, dir, Options{Controls: roles})
	for _, r := range rows(dir) {
		if roles[r.Teacher] != "" || r.Control != "" {
			t.Fatalf("a control/reference row was exported as training data: %+v", r)
		}
	}
	if res.Examples != len(fixtureExamples()) || res.LeftOut["scrambled"] != 3 || res.LeftOut["human"] != 3 {
		t.Errorf("exported %d, left out %v", res.Examples, res.LeftOut)
	}
	card, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	if !strings.Contains(string(card), "- scrambled (control): 3 examples left out") || !strings.Contains(string(card), "--include-controls") {
		t.Errorf("card does not say what was left out:\n%s", card)
	}

	dir = t.TempDir()
	res = exportAll(t, s, dir, Options{Controls: roles, IncludeControls: true})
	marked := map[string]int{}
	for _, r := range rows(dir) {
		if r.Control != roles[r.Teacher] {
			t.Errorf("row of %s has control = %q", r.Teacher, r.Control)
		}
		marked[r.Control]++
	}
	if marked["control"] != 3 || marked["reference"] != 3 || res.LeftOut != nil {
		t.Errorf("marked %v, left out %v", marked, res.LeftOut)
	}
	pq, err := parquet.ReadFile[Record](filepath.Join(dir, "data", "train.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range pq {
		if r.Control != roles[r.Teacher] {
			t.Errorf("parquet row of %s has control = %q", r.Teacher, r.Control)
		}
		if r.Control != "" {
			n++
		}
	}
	if n != 6 {
		t.Errorf("parquet marks %d rows, want 6", n)
	}
	card, _ = os.ReadFile(filepath.Join(dir, "README.md"))
	if !strings.Contains(string(card), "**Not training data.**") || !strings.Contains(string(card), "scrambled (control)") {
		t.Errorf("card does not flag the included controls:\n%s", card)
	}
}
