package perplexity

import (
	"bufio"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/plugins/internal/kn"
	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

// resetModels empties the in-process model cache so that a test sees a cold
// start.
func resetModels() {
	models.mu.Lock()
	models.m = nil
	models.mu.Unlock()
}

func config(t testing.TB, attrs map[string]cty.Value) sdk.Config {
	t.Helper()
	return sdk.Config{V: sdktest.Config(t, Metric{}.Describe().Schema, attrs)}
}

func open(t testing.TB, lang string, attrs map[string]cty.Value) *accumulator {
	t.Helper()
	acc, ds := Metric{}.Open(context.Background(), sdk.MetricRequest{Config: config(t, attrs), Language: lang, Cell: "t/" + lang})
	if ds.HasErrors() {
		t.Fatalf("open: %v", ds.Err())
	}
	return acc.(*accumulator)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// handModel trains a kn model on the corpus the way the package doc says:
// the non-blank lines joined by "\n" (the test corpora are far below one
// chunk).
func handModel(t *testing.T, path string, order int) *kn.Model {
	t.Helper()
	m, err := kn.New(kn.Options{Order: order})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			docs = append(docs, sc.Text())
		}
	}
	m.Add(strings.Join(docs, "\n"))
	return m
}

// TestHandArithmetic checks one value against arithmetic done on paper. The
// corpus "aab" at order 1 has counts a:2, b:1, counts-of-counts n1 = n2 = 1,
// so Y = 1/3, D1 = 1/3, D2 = 2; γ = D1 + D2 = 7/3, and with the uniform base
// 1/3 (a, b, unknown): P(a) = (0 + 7/9)/3 = 7/27, P(b) = (2/3 + 7/9)/3 =
// 13/27. So PPL("ab") = exp(−(ln 7/27 + ln 13/27)/2) = 27/√91, whatever the
// prompt (order 1 has no context).
func TestHandArithmetic(t *testing.T) {
	resetModels()
	acc := open(t, "xx", map[string]cty.Value{"reference": cty.StringVal("testdata/reference/tiny.txt"), "order": cty.NumberIntVal(1)})
	vals, err := acc.Add(context.Background(), []sdk.Example{
		{ID: "1", Prompt: "anything", Response: "ab"},
		{ID: "2", Prompt: "", Response: "ba"},
		{ID: "3", Prompt: "x", Response: "bbb"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{27 / math.Sqrt(91), 27 / math.Sqrt(91), 27.0 / 13}
	for i, w := range want {
		if got := vals[i].Values["perplexity"]; !near(got, w) {
			t.Errorf("example %s: perplexity %.12g, want %.12g", vals[i].ID, got, w)
		}
	}
	_, agg, err := acc.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mean := (2*27/math.Sqrt(91) + 27.0/13) / 3
	if got := agg.Values["value"]; !near(got, mean) {
		t.Errorf("cell value %.12g, want the mean %.12g", got, mean)
	}
	if got := agg.Values["median"]; !near(got, 27/math.Sqrt(91)) {
		t.Errorf("median %.12g, want %.12g", got, 27/math.Sqrt(91))
	}
}

// TestMatchesKNByHand checks every example's value against a model built
// directly through package kn: exp(nll/n) of the response only, with prompt +
// "\n" as context.
func TestMatchesKNByHand(t *testing.T) {
	for _, tc := range []struct {
		lang  string
		order int
	}{{"en", 5}, {"en", 3}, {"de", 5}} {
		t.Run(tc.lang+"/"+string(rune('0'+tc.order)), func(t *testing.T) {
			resetModels()
			ref := "testdata/reference/" + tc.lang + ".txt"
			m := handModel(t, ref, tc.order)
			exs := []sdk.Example{
				{ID: "a", Prompt: "Where is the mill?", Response: "The mill is by the river."},
				{ID: "b", Prompt: "Wo ist die Mühle?", Response: "Die Mühle steht am Fluss."},
				{ID: "c", Prompt: "Unseen characters:", Response: "日本語 ✓ the end"},
				{ID: "d", Prompt: "", Response: "x"},
			}
			acc := open(t, tc.lang, map[string]cty.Value{"reference": cty.StringVal("testdata/reference/{lang}.txt"), "order": cty.NumberIntVal(int64(tc.order))})
			vals, err := acc.Add(context.Background(), exs)
			if err != nil {
				t.Fatal(err)
			}
			for i, ex := range exs {
				nll, n := m.Score(ex.Prompt+"\n", ex.Response)
				if n != utf8.RuneCountInString(ex.Response) {
					t.Fatalf("kn scored %d characters of a %d-character response", n, utf8.RuneCountInString(ex.Response))
				}
				want := math.Exp(nll / float64(n))
				if got := vals[i].Values["perplexity"]; !near(got, want) {
					t.Errorf("%s: perplexity %.12g, want %.12g", ex.ID, got, want)
				}
				if got := vals[i].Values["tokens"]; got != float64(n) {
					t.Errorf("%s: tokens %g, want %d", ex.ID, got, n)
				}
			}
		})
	}
}

// TestContextMatters: a response is scored given its prompt, and only the
// response is scored.
func TestContextMatters(t *testing.T) {
	resetModels()
	acc := open(t, "en", map[string]cty.Value{"reference": cty.StringVal("testdata/reference/{lang}.txt")})
	// The first prompt ends like the corpus's documents, the second does not:
	// the model knows different continuations of the two contexts.
	resp := "the miller watched the river"
	vals, err := acc.Add(context.Background(), []sdk.Example{
		{ID: "1", Prompt: "He watched it from his door.", Response: resp},
		{ID: "2", Prompt: "Tell me something!", Response: resp},
		{ID: "3", Prompt: "He watched it from his door.", Response: resp},
		{ID: "4", Prompt: "He watched it from his door.", Response: resp + " flour"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := func(i int) float64 { return vals[i].Values["perplexity"] }
	if p(0) == p(1) {
		t.Errorf("changing the prompt left the value at %g: the prompt is not used as context", p(0))
	}
	if p(0) != p(2) {
		t.Errorf("the same example scored %g and %g", p(0), p(2))
	}
	if p(0) == p(3) || vals[3].Values["tokens"] != vals[0].Values["tokens"]+6 {
		t.Errorf("a longer response must be scored over its own characters: %v vs %v", vals[3].Values, vals[0].Values)
	}
}

// TestEveryExampleHasItsValue: values come back for each example, in order,
// with its id, as soon as Add returns; empty responses get a note.
func TestEveryExampleHasItsValue(t *testing.T) {
	resetModels()
	acc := open(t, "de", map[string]cty.Value{"reference": cty.StringVal("testdata/reference/{lang}.txt")})
	var exs []sdk.Example
	for i := range 300 {
		exs = append(exs, sdk.Example{ID: "ex" + string(rune('A'+i%26)) + strings.Repeat("!", i/26), Prompt: "Frage " + strings.Repeat("x", i%7), Response: strings.Repeat("Mühle ", 1+i%5)})
	}
	exs[17].Response = ""
	total := 0
	for lo := 0; lo < len(exs); lo += 128 {
		batch := exs[lo:min(lo+128, len(exs))]
		vals, err := acc.Add(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) != len(batch) {
			t.Fatalf("Add returned %d values for %d examples", len(vals), len(batch))
		}
		for i, v := range vals {
			if v.ID != batch[i].ID {
				t.Fatalf("value %d has id %q, want %q", i, v.ID, batch[i].ID)
			}
			if batch[i].Response == "" {
				if v.Values != nil || !strings.Contains(v.Note, "empty response") {
					t.Errorf("empty response: values %v, note %q", v.Values, v.Note)
				}
				continue
			}
			if p := v.Values["perplexity"]; !(p > 1) || math.IsInf(p, 0) {
				t.Errorf("%s: perplexity %g is not a finite value above 1", v.ID, p)
			}
			total++
		}
	}
	rest, agg, err := acc.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 0 {
		t.Errorf("Finish returned %d values; all were returned by Add", len(rest))
	}
	if agg.Values["n"] != float64(total) || agg.Values["skipped"] != 1 {
		t.Errorf("n = %g, skipped = %g; want %d and 1", agg.Values["n"], agg.Values["skipped"], total)
	}
	if !(agg.Values["median"] <= agg.Values["p90"]) || !(agg.Values["geo_mean"] <= agg.Values["mean"]) {
		t.Errorf("inconsistent aggregate %v", agg.Values)
	}
}

func TestReferenceDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, ref, lang, want string
	}{
		{"missing", "testdata/reference/{lang}.txt", "tl", "testdata/reference/tl.txt does not exist"},
		{"blank", "testdata/reference/blank.txt", "en", "no text"},
		{"directory", "testdata/reference", "en", "directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resetModels()
			acc, ds := Metric{}.Open(context.Background(), sdk.MetricRequest{
				Config:   config(t, map[string]cty.Value{"reference": cty.StringVal(tc.ref)}),
				Language: tc.lang,
			})
			if acc != nil || !ds.HasErrors() {
				t.Fatalf("Open succeeded; want an error diagnostic")
			}
			d := ds[len(ds)-1]
			if sdk.PathString(d.Path) != "reference" {
				t.Errorf("diagnostic at %q, want it on reference", sdk.PathString(d.Path))
			}
			if !strings.Contains(d.Summary+": "+d.Detail, tc.want) {
				t.Errorf("diagnostic %q: %q does not say %q", d.Summary, d.Detail, tc.want)
			}
		})
	}
}

func TestValidateConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs map[string]cty.Value
		path  string // "" means no error
	}{
		{"defaults", nil, ""},
		{"bad backend", map[string]cty.Value{"backend": cty.StringVal("gpu")}, "backend"},
		{"order 0", map[string]cty.Value{"order": cty.NumberIntVal(0)}, "order"},
		{"order 9", map[string]cty.Value{"order": cty.NumberIntVal(9)}, "order"},
		{"order 2.5", map[string]cty.Value{"order": cty.NumberFloatVal(2.5)}, "order"},
		{"endpoint without url", map[string]cty.Value{"backend": cty.StringVal(Endpoint), "model": cty.StringVal("m")}, "base_url"},
		{"endpoint bad url", map[string]cty.Value{"backend": cty.StringVal(Endpoint), "model": cty.StringVal("m"), "base_url": cty.StringVal("127.0.0.1:8000")}, "base_url"},
		{"endpoint without model", map[string]cty.Value{"backend": cty.StringVal(Endpoint), "base_url": cty.StringVal("http://127.0.0.1:1/v1")}, "model"},
		{"endpoint ok", map[string]cty.Value{"backend": cty.StringVal(Endpoint), "model": cty.StringVal("m"), "base_url": cty.StringVal("http://127.0.0.1:1/v1")}, ""},
		{"bad timeout", map[string]cty.Value{"timeout": cty.StringVal("soon")}, "timeout"},
		{"batch 0", map[string]cty.Value{"batch": cty.NumberIntVal(0)}, "batch"},
		{"negative retries", map[string]cty.Value{"max_retries": cty.NumberIntVal(-1)}, "max_retries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := Metric{}.ValidateConfig(context.Background(), config(t, tc.attrs))
			if tc.path == "" {
				if ds.HasErrors() {
					t.Fatalf("unexpected errors: %v", ds.Err())
				}
				return
			}
			if !ds.HasErrors() {
				t.Fatalf("no error; want one on %s", tc.path)
			}
			for _, d := range ds {
				if d.Severity == sdk.Error && sdk.PathString(d.Path) != tc.path {
					t.Errorf("error on %q (%s), want on %q", sdk.PathString(d.Path), d.Summary, tc.path)
				}
			}
		})
	}
}

// TestModelCache: a corpus is trained once per process, and with cache_dir
// once per machine; a changed file is retrained.
func TestModelCache(t *testing.T) {
	resetModels()
	dir := t.TempDir()
	corpus := filepath.Join(dir, "en.txt")
	src, err := os.ReadFile("testdata/reference/en.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corpus, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	attrs := map[string]cty.Value{"reference": cty.StringVal(filepath.Join(dir, "{lang}.txt")), "cache_dir": cty.StringVal(cache)}
	ex := []sdk.Example{{ID: "1", Prompt: "The mill", Response: "turned in the water"}}
	valueAndSource := func() (float64, string) {
		t.Helper()
		acc := open(t, "en", attrs)
		vals, err := acc.Add(context.Background(), ex)
		if err != nil {
			t.Fatal(err)
		}
		return vals[0].Values["perplexity"], acc.details["model_source"].(string)
	}
	p1, s1 := valueAndSource()
	p2, s2 := valueAndSource()
	resetModels()
	p3, s3 := valueAndSource()
	if s1 != "trained" || s2 != "memory cache" || s3 != "disk cache" {
		t.Errorf("sources %q, %q, %q; want trained, memory cache, disk cache", s1, s2, s3)
	}
	if p1 != p2 || p1 != p3 {
		t.Errorf("cached models score differently: %g, %g, %g", p1, p2, p3)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.kn"))
	if len(files) != 1 {
		t.Errorf("cache holds %v; want one model file", files)
	}
	// A changed corpus is a different model.
	if err := os.WriteFile(corpus, append(src, []byte("Turned turned turned in the water water water.\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	p4, s4 := valueAndSource()
	if s4 != "trained" || p4 == p1 {
		t.Errorf("after the corpus changed: source %q, perplexity %g (was %g); want a retrained model", s4, p4, p1)
	}
	// A damaged cache file is retrained, not fatal.
	resetModels()
	files, _ = filepath.Glob(filepath.Join(cache, "*.kn"))
	for _, f := range files {
		if err := os.WriteFile(f, []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if p5, s5 := valueAndSource(); s5 != "trained" || p5 != p4 {
		t.Errorf("with a damaged cache: source %q, perplexity %g; want trained, %g", s5, p5, p4)
	}
}

// TestOverGRPC runs the metric through the SDK's gRPC server as the host
// would, and checks the values equal the in-process ones.
func TestOverGRPC(t *testing.T) {
	resetModels()
	c := sdktest.Start(t, sdk.ServeOpts{Name: "perplexity", Version: "test", Metrics: []sdk.Metric{New()}})
	cfg := sdktest.Config(t, Metric{}.Describe().Schema, map[string]cty.Value{"reference": cty.StringVal("testdata/reference/{lang}.txt")})
	s, ds, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "perplexity", Config: cfg, Language: "en", Cell: "t/en"})
	if err != nil || ds.HasErrors() {
		t.Fatalf("open: %v %v", err, ds.Err())
	}
	exs := []sdk.Example{{ID: "1", Prompt: "Q", Response: "the river"}, {ID: "2", Prompt: "Q", Response: "zzz"}}
	vals, err := s.Add(exs)
	if err != nil {
		t.Fatal(err)
	}
	_, agg, err := s.Finish()
	if err != nil {
		t.Fatal(err)
	}
	local, _ := open(t, "en", map[string]cty.Value{"reference": cty.StringVal("testdata/reference/{lang}.txt")}).Add(context.Background(), exs)
	for i := range exs {
		if vals[i].ID != exs[i].ID || vals[i].Values["perplexity"] != local[i].Values["perplexity"] {
			t.Errorf("over gRPC %v, in process %v", vals[i], local[i])
		}
	}
	want := (local[0].Values["perplexity"] + local[1].Values["perplexity"]) / 2
	if !near(agg.Values["value"], want) {
		t.Errorf("cell value %g, want %g", agg.Values["value"], want)
	}

	// A missing corpus is a diagnostic on reference, over the wire too.
	_, ds, err = c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "perplexity", Config: cfg, Language: "sw", Cell: "t/sw"})
	if err != nil {
		t.Fatal(err)
	}
	if !ds.HasErrors() || sdk.PathString(ds[0].Path) != "reference" {
		t.Errorf("missing corpus over gRPC: %v", ds)
	}
}
