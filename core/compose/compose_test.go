package compose

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/polyglot-teachers/polyglot/core/export"
	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// memSource is a Source over examples in memory, in the store's order.
type memSource []store.Example

func (m memSource) Examples(f store.Filter, fn func(*store.Example) error) error {
	in := func(v string, set []string) bool { return len(set) == 0 || slices.Contains(set, v) }
	for i := range m {
		e := m[i]
		if !in(e.Teacher, f.Teachers) || !in(e.Language, f.Languages) || !in(e.Strategy, f.Strategies) || (len(f.Seeds) > 0 && !slices.Contains(f.Seeds, e.Seed)) {
			continue
		}
		if err := fn(&e); err != nil {
			if err == store.ErrStop {
				return nil
			}
			return err
		}
	}
	return nil
}

var vocab = strings.Fields("haus baum wasser licht stadt fluss berg wald feld weg zeit jahr tag nacht kind mann frau hand auge kopf herz welt land meer himmel sonne mond stern wind regen schnee feuer erde stein blume vogel fisch hund katze pferd buch brief wort satz frage antwort schule arbeit geld markt")

func sentence(r *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = vocab[r.IntN(len(vocab))]
	}
	return strings.Join(w, " ")
}

// fixture: teacher a has 60 distinct rows; teacher b has 60 rows of which
// 10 are near copies of a's rows, 5 exact copies, and 6 quote a benchmark
// item (5 long questions, 1 short one), the rest its own.
type fixture struct {
	rows      memSource
	benchFile string
	items     []map[string]any
}

func newFixture(t *testing.T) fixture {
	r := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	var fx fixture
	for i := range 6 {
		q := sentence(r, 20) + "?"
		if i == 5 {
			q = "wie viele sterne hat der himmel heute nacht" // 8 words: the short-item rule
		}
		fx.items = append(fx.items, map[string]any{"id": fmt.Sprintf("q%d", i), "question": q, "choices": []string{"eins", "zwei"}, "answer": 0})
	}
	fx.benchFile = filepath.Join(dir, "bench.jsonl")
	f, err := os.Create(fx.benchFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range fx.items {
		b, _ := json.Marshal(it)
		fmt.Fprintln(f, string(b))
	}
	f.Close()
	var a []store.Example
	for i := range 60 {
		a = append(a, store.Example{Key: fmt.Sprintf("a%02d", i), Teacher: "a", Model: "model-a", Language: "de", Strategy: "respond", Seed: 1, SeedRowID: fmt.Sprintf("s%02d", i), Idx: i,
			Prompt: sentence(r, 12) + "?", Response: sentence(r, 40) + ".", Params: json.RawMessage(`{"temperature":0.7}`)})
	}
	var b []store.Example
	for i := range 60 {
		e := store.Example{Key: fmt.Sprintf("b%02d", i), Teacher: "b", Model: "model-b", Language: "de", Strategy: "respond", Seed: 1, SeedRowID: fmt.Sprintf("s%02d", i), Idx: i,
			Params: json.RawMessage(`{"temperature":1}`)}
		switch {
		case i < 10: // near copy: one word of the response changed
			e.Prompt = a[i].Prompt
			w := strings.Fields(a[i].Response)
			w[3] = "anders"
			e.Response = strings.Join(w, " ")
		case i < 15: // exact copy up to case and spacing
			e.Prompt = strings.ToUpper(a[i].Prompt)
			e.Response = "  " + a[i].Response
		case i < 21: // quotes a benchmark question
			e.Prompt = sentence(r, 12) + "?"
			e.Response = sentence(r, 10) + ". " + strings.ToUpper(fx.items[i-15]["question"].(string)[:1]) + fx.items[i-15]["question"].(string)[1:] + " " + sentence(r, 10)
		default:
			e.Prompt = sentence(r, 12) + "?"
			e.Response = sentence(r, 40) + "."
		}
		b = append(b, e)
	}
	fx.rows = append(append(fx.rows, a...), b...)
	return fx
}

func composeFixture(t *testing.T, fx fixture, d *spec.Dataset, out string) *Result {
	t.Helper()
	res := &score.Result{Cells: []score.CellScore{
		{Teacher: "a", Language: "de", PG: 0.9, Rank: 1, Standing: score.StandingBest, CI: &score.Interval{Lo: 0.8, Hi: 1}},
		{Teacher: "b", Language: "de", PG: 0.5, Rank: 2, Standing: score.StandingWorse, CI: &score.Interval{Lo: 0.4, Hi: 0.6}},
		{Teacher: "ctl", Language: "de", PG: 2, Rank: 3, Standing: score.StandingWorse},
	}}
	plans := Select(d, res, []string{"de"}, map[string]string{"ctl": "control"})
	avail := Available{}
	for _, e := range fx.rows {
		avail[[3]string{e.Teacher, e.Language, e.Strategy}]++
	}
	size := d.Rows
	Plan(plans, avail, d.StrategyMix, size, false)
	study := &score.Study{Metrics: []score.MetricRecord{{Teacher: "a", Language: "de", Seed: 1, Metric: "langid",
		PerExample: []float64{1, 0}, PerExampleKeys: []string{score.PairKey(fx.rows[0].Prompt), score.PairKey(fx.rows[1].Prompt)}}}}
	r, err := Run(Options{Dataset: d, Plans: plans, Source: fx.rows, Study: study, LangidMetric: "langid", Out: out, JSONL: true, Parquet: true,
		System: func(lang, strategy string) string { return "Answer in German." }, Card: CardInfo{Name: "test", Confidence: 0.95}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func dataset(rule string) *spec.Dataset {
	return &spec.Dataset{Name: "t", Rule: rule, K: 2, HeldOut: 0.2, SplitSeed: 3, Langid: "drop", System: "field", License: "other",
		Dedup: spec.DatasetDedup{Exact: true, Near: true, Threshold: 0.8, Shingle: 5}}
}

func readDropped(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs[1:]
}

func readJSONL(t *testing.T, path string) []export.Row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []export.Row
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r export.Row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r)
	}
	return out
}

// TestComposeDedupDecontaminate mixes two teachers whose rows overlap: the
// near and exact copies of teacher b appear once (as a's), rows quoting
// benchmark items are dropped and listed with the item, the row the langid
// metric judged off target is dropped, the control never appears, and the
// JSONL and Parquet files hold the same rows.
func TestComposeDedupDecontaminate(t *testing.T) {
	fx := newFixture(t)
	d := dataset("table")
	d.Table = map[string]map[string]float64{"*": {"a": 1, "b": 1}}
	d.Decontaminate = &spec.DatasetDecontaminate{Files: []string{fx.benchFile}, NGram: 13, MinTokens: 6}
	out := t.TempDir()
	res := composeFixture(t, fx, d, out)
	if len(res.Languages) != 1 {
		t.Fatalf("languages: %+v", res.Languages)
	}
	l := res.Languages[0]
	// a01 is off target, so b's near copy of it is kept.
	want := map[string]int{DropNearDuplicate: 9, DropDuplicate: 5, DropContaminated: 6, DropLanguage: 1}
	for k, n := range want {
		if l.Dropped[k] != n {
			t.Errorf("dropped %s: %d, want %d (all: %v)", k, l.Dropped[k], n, l.Dropped)
		}
	}
	if l.Kept != 120-21 || l.Read != 120 || l.Train+l.HeldOut != l.Kept {
		t.Errorf("kept %d of %d read (train %d, heldout %d), want 99 of 120", l.Kept, l.Read, l.Train, l.HeldOut)
	}
	// Every contaminated row names the item it hit; the six items are all hit.
	hit := map[string]bool{}
	for _, rec := range readDropped(t, filepath.Join(out, "dropped.csv")) {
		if rec[4] == DropContaminated {
			hit[rec[5]] = true
			if rec[2] != "b" || rec[6] == "" {
				t.Errorf("contaminated row %v: want teacher b and the overlapping words", rec)
			}
		}
		if rec[4] == DropNearDuplicate && !strings.HasPrefix(rec[5], "a") {
			t.Errorf("near duplicate %v should point at a row of teacher a", rec)
		}
	}
	for _, it := range fx.items {
		if !hit["bench.jsonl#"+it["id"].(string)] {
			t.Errorf("item %v was not reported as hit; hits: %v", it["id"], hit)
		}
	}
	var rows []export.Row
	for _, split := range []string{export.SplitTrain, export.SplitHeldOut} {
		rows = append(rows, readJSONL(t, filepath.Join(out, "data", "de", split+".jsonl"))...)
	}
	if len(rows) != l.Kept {
		t.Fatalf("JSONL has %d rows, result says %d", len(rows), l.Kept)
	}
	prompts := map[string]int{}
	for _, r := range rows {
		if r.ID == "b01" {
			continue // the near copy of the off-target a01
		}
		if r.Teacher == "ctl" {
			t.Error("a control's row was composed")
		}
		if r.Split != Split(d.SplitSeed, d.HeldOut, r.ID) || r.Model == "" || r.SeedRow == "" || r.Params == "" || r.System != "Answer in German." {
			t.Errorf("row provenance incomplete: %+v", r)
		}
		prompts[strings.ToLower(strings.TrimSpace(r.Messages[0].Content))]++
		for _, it := range fx.items {
			if strings.Contains(strings.ToLower(r.Messages[1].Content), it["question"].(string)) {
				t.Errorf("row %s still quotes benchmark item %v", r.ID, it["id"])
			}
		}
	}
	for p, n := range prompts {
		if n > 1 {
			t.Errorf("prompt %q appears %d times", p, n)
		}
	}
	if rows[0].ID != "a00" || len(rows[0].Metrics) != 1 || rows[0].Metrics[0].Metric != "langid" {
		t.Errorf("first row %s should carry its langid value: %+v", rows[0].ID, rows[0].Metrics)
	}
	// Parquet: the same rows.
	n := 0
	for _, split := range []string{export.SplitTrain, export.SplitHeldOut} {
		f, err := os.Open(filepath.Join(out, "data", "de", split+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		n += int(pf.NumRows())
		f.Close()
	}
	if n != l.Kept {
		t.Errorf("Parquet has %d rows, want %d", n, l.Kept)
	}
	card, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"configs:\n- config_name: all\n  default: true", `path: "data/de/train.parquet"`, "license_link: \"LICENSE.md\"", "size_categories:\n- \"n<1K\"", "[0.800, 1.000]"} {
		if !strings.Contains(string(card), s) {
			t.Errorf("card lacks %q:\n%s", s, card)
		}
	}
	duckdbCheck(t, out, l)
}

// TestComposeQuota: rows per language split by PG between the two best
// teachers, the control never in the mix.
func TestComposeQuota(t *testing.T) {
	fx := newFixture(t)
	d := dataset("top_k")
	d.Rows = 30
	d.Dedup = spec.DatasetDedup{Shingle: 5, Threshold: 0.8}
	d.Langid = "off"
	res := composeFixture(t, fx, d, t.TempDir())
	l := res.Languages[0]
	// Weights 0.9 : 0.5 → 19 and 11 rows.
	if l.Kept != 30 || l.PerPick[0] != 19 || l.PerPick[1] != 11 {
		t.Errorf("kept %d as %v, want 30 as [19 11]", l.Kept, l.PerPick)
	}
}

func TestSplitIsStableAndProportional(t *testing.T) {
	held := 0
	for i := range 20000 {
		id := fmt.Sprintf("row-%d", i)
		s := Split(7, 0.1, id)
		if s != Split(7, 0.1, id) {
			t.Fatal("split not deterministic")
		}
		if s == export.SplitHeldOut {
			held++
		}
	}
	if held < 1800 || held > 2200 {
		t.Errorf("%d of 20000 held out at 10%%", held)
	}
}

// TestReadItemShapes reads the benchmark file shapes decontamination
// takes: MGSM's TSV (no header), Global-MMLU-Lite's CSV and Parquet
// columns, M-RewardBench's JSONL.
func TestReadItemShapes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mgsm := write("mgsm_de.tsv", "Janet hat 16 Eier pro Tag und isst drei zum Frühstück. Wie viele bleiben?\t13\nZweite Frage mit Zahlen 3 und 4?\t7\n")
	gmmlu := write("gmmlu_de.csv", "sample_id,subject,question,option_a,option_b,option_c,option_d,answer\nabstract_algebra/test/1,abstract_algebra,\"Finde den Grad der Erweiterung, bitte.\",0,4,2,6,B\n")
	mrb := write("mrb_de.jsonl", `{"id": 7, "prompt": "Schreibe ein Gedicht über den Herbst.", "chosen": "Blätter fallen", "rejected": "nein", "language": "de"}`+"\n")
	pq := filepath.Join(dir, "gmmlu_de.parquet")
	type gm struct {
		SampleID string `parquet:"sample_id"`
		Question string `parquet:"question"`
		OptionA  string `parquet:"option_a"`
		OptionB  string `parquet:"option_b"`
	}
	if err := parquet.WriteFile(pq, []gm{{"x/1", "Welche Farbe hat der Himmel am Tag?", "blau", "grün"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path   string
		fields []string
		id     string
		texts  []string
	}{
		{mgsm, nil, "1", []string{"Janet hat 16 Eier pro Tag und isst drei zum Frühstück. Wie viele bleiben?"}},
		{gmmlu, nil, "abstract_algebra/test/1", []string{"Finde den Grad der Erweiterung, bitte.", "Finde den Grad der Erweiterung, bitte.\n0\n4\n2\n6"}},
		{mrb, nil, "7", []string{"Schreibe ein Gedicht über den Herbst."}},
		{mrb, []string{"prompt", "chosen"}, "7", []string{"Schreibe ein Gedicht über den Herbst.", "Blätter fallen"}},
		{pq, nil, "x/1", []string{"Welche Farbe hat der Himmel am Tag?", "Welche Farbe hat der Himmel am Tag?\nblau\ngrün"}},
	} {
		items, err := ReadItems(c.path, c.fields)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if items[0].ID != c.id || !slices.Equal(items[0].Texts, c.texts) {
			t.Errorf("%s: first item %+v, want id %s texts %q", filepath.Base(c.path), items[0], c.id, c.texts)
		}
	}
	if _, err := ReadItems(write("bad.jsonl", "{\"foo\": 1}\n"), nil); err == nil || !strings.Contains(err.Error(), "bad.jsonl:1") {
		t.Errorf("an item without text: %v, want an error at bad.jsonl:1", err)
	}
}

func TestContaminationRules(t *testing.T) {
	c := NewContamination([]Item{
		{ID: "long", Texts: []string{"one two three four five six seven eight nine ten eleven twelve thirteen fourteen"}},
		{ID: "short", Texts: []string{"alpha beta gamma delta epsilon zeta"}},
		{ID: "tiny", Texts: []string{"hi there"}},
		{ID: "ja", Texts: []string{"日本の首都はどこですか東京です大阪ではありません"}},
	}, 13, 6)
	if c.TooShort != 1 {
		t.Errorf("too short: %d, want 1", c.TooShort)
	}
	for _, tc := range []struct {
		text string
		item string
	}{
		{"x two three four five six seven eight nine ten eleven twelve thirteen fourteen y", "long"},
		{"x two three four five six seven eight nine ten eleven twelve thirteen y", ""},
		{"so alpha beta gamma delta epsilon zeta said", "short"},
		{"alpha beta gamma delta epsilon", ""},
		{"hi there", ""},
		{"問題:日本の首都はどこですか東京です大阪ではありません", "ja"},
	} {
		h, ok, _ := c.Check(tc.text, nil)
		got := ""
		if ok {
			got = c.Items[h.Item].ID
		}
		if got != tc.item {
			t.Errorf("%q hits %q, want %q", tc.text, got, tc.item)
		}
	}
}

// duckdbCheck reads the dataset back with DuckDB through npm
// @duckdb/node-api: a reader polyglot did not write.
func duckdbCheck(t *testing.T, dir string, l LanguageResult) {
	tool, _ := filepath.Abs("testdata/duckdb")
	if _, err := os.Stat(filepath.Join(tool, "node_modules", "@duckdb", "node-api")); err != nil {
		if os.Getenv("POLYGLOT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("DuckDB reader not installed: run npm ci in %s", tool)
		}
		t.Logf("skipping the DuckDB reader: run npm ci in %s", tool)
		return
	}
	cmd := exec.Command("node", filepath.Join(tool, "read.mjs"), dir)
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("DuckDB reader: %v", err)
	}
	var got map[string]struct {
		Schema []struct{ Column_name, Column_type string }
		Counts []struct {
			Language, Split, Teacher string
			N                        int
		}
		First []struct {
			Role0    string `json:"role0"`
			RoleLast string `json:"role_last"`
			Metrics  int    `json:"metrics"`
			SeedRow  string `json:"seed_row"`
		}
	}
	if err := json.Unmarshal(outb, &got); err != nil {
		t.Fatalf("DuckDB reader output: %v\n%s", err, outb)
	}
	for _, format := range []string{"parquet", "jsonl"} {
		g := got[format]
		var cols []string
		for _, c := range g.Schema {
			cols = append(cols, c.Column_name+" "+c.Column_type)
		}
		metrics := `metrics STRUCT(metric VARCHAR, "value" DOUBLE)[]`
		if format == "jsonl" { // JSON has one number type: whole values read as integers
			metrics = `metrics STRUCT(metric VARCHAR, "value" BIGINT)[]`
		}
		for _, want := range []string{`messages STRUCT("role" VARCHAR, "content" VARCHAR)[]`, "id VARCHAR", "language VARCHAR", "split VARCHAR", "teacher VARCHAR", "seed BIGINT", "seed_row VARCHAR", metrics} {
			if !slices.Contains(cols, want) {
				t.Errorf("%s: DuckDB sees no column %q; columns: %v", format, want, cols)
			}
		}
		split := map[string]int{}
		for _, c := range g.Counts {
			split[c.Split] += c.N
		}
		if split[export.SplitTrain] != l.Train || split[export.SplitHeldOut] != l.HeldOut {
			t.Errorf("%s: DuckDB counts %v, want train %d heldout %d", format, split, l.Train, l.HeldOut)
		}
		if len(g.First) != 1 || g.First[0].Role0 != "user" || g.First[0].RoleLast != "assistant" || g.First[0].SeedRow == "" {
			t.Errorf("%s: first row as DuckDB reads it: %+v", format, g.First)
		}
	}
}

// TestSelectRules: best with pooling takes the indistinguishable teacher,
// never the control; best_strategy takes the best teacher × strategy cell;
// negative PG-Scores still give positive weights in score order.
func TestSelectRules(t *testing.T) {
	res := &score.Result{
		Cells: []score.CellScore{
			{Teacher: "ctl", Language: "de", PG: 3, Rank: 1, Standing: score.StandingBest},
			{Teacher: "a", Language: "de", PG: -0.2, Rank: 2, Standing: score.StandingIndistinguishable, CI: &score.Interval{Lo: -0.5, Hi: 0.1}},
			{Teacher: "b", Language: "de", PG: -0.4, Rank: 3, Standing: score.StandingIndistinguishable},
			{Teacher: "c", Language: "de", PG: -1, Rank: 4, Standing: score.StandingWorse},
		},
		ByStrategy: []score.CellScore{
			{Teacher: "a", Language: "de", Strategy: "gen", PG: 0.1, Rank: 2, Standing: score.StandingWorse, CI: &score.Interval{Lo: 0, Hi: 0.2}},
			{Teacher: "b", Language: "de", Strategy: "tr", PG: 0.5, Rank: 1, Standing: score.StandingBest, CI: &score.Interval{Lo: 0.15, Hi: 0.9}},
			{Teacher: "c", Language: "de", Strategy: "tr", PG: 0.3, Rank: 2, Standing: score.StandingWorse, CI: &score.Interval{Lo: 0.25, Hi: 0.35}},
		},
	}
	roles := map[string]string{"ctl": "control"}
	names := func(lp LanguagePlan) []string {
		var out []string
		for _, p := range lp.Picks {
			out = append(out, p.Teacher+"/"+p.Strategy)
		}
		return out
	}
	d := dataset("best")
	d.Pool = true
	lp := Select(d, res, []string{"de"}, roles)[0]
	if got := names(lp); !slices.Equal(got, []string{"a/", "b/"}) {
		t.Errorf("best+pool picks %v, want a and b (not the control, not c)", got)
	}
	if lp.Picks[0].Weight <= lp.Picks[1].Weight || lp.Picks[1].Weight <= 0 || lp.Picks[0].Weight+lp.Picks[1].Weight < 0.999 {
		t.Errorf("weights %v, %v: want positive, in score order, summing to 1", lp.Picks[0].Weight, lp.Picks[1].Weight)
	}
	d = dataset("best_strategy")
	if got := names(Select(d, res, []string{"de"}, roles)[0]); !slices.Equal(got, []string{"b/tr"}) {
		t.Errorf("best_strategy picks %v, want b/tr", got)
	}
	d.Pool = true // c/tr is worse within its strategy; a/gen's interval overlaps b/tr's
	if got := names(Select(d, res, []string{"de"}, roles)[0]); !slices.Equal(got, []string{"b/tr", "a/gen"}) {
		t.Errorf("best_strategy+pool picks %v, want b/tr and a/gen", got)
	}
}

// TestComposeAgainstSeeds: with dedup.seeds, rows that copy a seed row go.
func TestComposeAgainstSeeds(t *testing.T) {
	fx := newFixture(t)
	d := dataset("best")
	d.Dedup.Seeds = true
	d.Langid = "off"
	res := &score.Result{Cells: []score.CellScore{{Teacher: "a", Language: "de", PG: 1, Rank: 1, Standing: score.StandingBest}}}
	plans := Select(d, res, []string{"de"}, nil)
	Plan(plans, Available{{"a", "de", "respond"}: 60}, nil, 0, false)
	seeds := func(lang string, fn func(SeedRow) error) error {
		for _, e := range fx.rows[:7] {
			if err := fn(SeedRow{ID: "seed-" + e.Key, Prompt: e.Prompt, Response: e.Response + " ok"}); err != nil {
				return err
			}
		}
		return nil
	}
	out, err := Run(Options{Dataset: d, Plans: plans, Source: fx.rows, SeedRows: seeds, Out: t.TempDir(), Parquet: true})
	if err != nil {
		t.Fatal(err)
	}
	if l := out.Languages[0]; l.Dropped[DropSeedCopy] != 7 || l.Kept != 53 {
		t.Errorf("dropped %v, kept %d; want 7 seed copies and 53 rows", l.Dropped, l.Kept)
	}
}

// TestPlanStrategyMix: a size per language split by teacher weight, then by
// the strategy mix; strategies outside the mix get nothing.
func TestPlanStrategyMix(t *testing.T) {
	lps := []LanguagePlan{{Language: "de", Picks: []Pick{{Teacher: "a", Weight: 0.75}, {Teacher: "b", Weight: 0.25}}}}
	avail := Available{{"a", "de", "gen"}: 100, {"a", "de", "tr"}: 5, {"a", "de", "resp"}: 100, {"b", "de", "gen"}: 100, {"b", "de", "tr"}: 100}
	Plan(lps, avail, map[string]float64{"gen": 3, "tr": 1}, 40, false)
	var got []string
	for _, s := range lps[0].Slots {
		got = append(got, fmt.Sprintf("%s/%s:%d of %d", lps[0].Picks[s.Pick].Teacher, s.Strategy, s.Quota, s.Available))
	}
	// 22.5, 7.5, 7.5, 2.5: ties of the remainder go to the earlier slots.
	want := []string{"a/gen:23 of 100", "a/tr:8 of 5", "b/gen:7 of 100", "b/tr:2 of 100"}
	if !slices.Equal(got, want) {
		t.Errorf("slots %v, want %v", got, want)
	}
	if lps[0].Expected != 23+5+7+2 {
		t.Errorf("expected %d rows, want 37 (a/tr has only 5)", lps[0].Expected)
	}
}
