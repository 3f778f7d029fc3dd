package langid

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

func startLangid(t *testing.T) *sdk.Client {
	t.Helper()
	return sdktest.Start(t, sdk.ServeOpts{Name: "langid", Version: "1", Metrics: []sdk.Metric{New()}})
}

func openLangid(t *testing.T, c *sdk.Client, attrs map[string]cty.Value, lang string) (*sdk.MetricStream, sdk.Diagnostics) {
	t.Helper()
	cfg := sdktest.Config(t, New().Describe().Schema, attrs)
	ms, d, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "langid", Config: cfg, Language: lang, Cell: "t/" + lang})
	if err != nil {
		t.Fatal(err)
	}
	return ms, d
}

// A "de" cell: one example fully German, one whose response drifted to
// Spanish, one whose prompt is too short to identify, one whose response is
// Arabic (another language and another script).
var deCell = []sdk.Example{
	{ID: "ok", Prompt: textDE, Response: textDE},
	{ID: "es", Prompt: textDE, Response: textES},
	{ID: "short", Prompt: "ok", Response: textDE},
	{ID: "ar", Prompt: textDE, Response: textAR},
}

func TestLangidComponentCell(t *testing.T) {
	path, _ := testModel(t)
	c := startLangid(t)
	// Both ways to name the model: its path, and the default source with
	// the cache directory that already holds it (no fetch).
	configs := map[string]map[string]cty.Value{
		"path": {"model": cty.StringVal(path)},
	}
	if filepath.Base(path) == ModelFileName {
		configs["default"] = map[string]cty.Value{"cache_dir": cty.StringVal(filepath.Dir(path))}
	}
	wantPer := map[string]map[string]float64{
		"ok":    {"value": 1, "prompt_on_target": 1, "response_on_target": 1, "script_mismatch": 0},
		"es":    {"value": 0, "prompt_on_target": 1, "response_on_target": 0, "script_mismatch": 0},
		"short": {"value": 0, "prompt_on_target": 0, "response_on_target": 1, "script_mismatch": 0},
		"ar":    {"value": 0, "prompt_on_target": 1, "response_on_target": 0, "script_mismatch": 1},
	}
	wantNote := map[string][]string{
		"ok":    {"prompt de (", "response de ("},
		"es":    {"response es ("},
		"short": {"prompt und (short"},
		"ar":    {"response ar (", "script Arab, expected Latn"},
	}
	wantAgg := map[string]float64{"value": 0.25, "prompt_rate": 0.75, "response_rate": 0.5, "und_rate": 0.125, "script_mismatch_rate": 0.25, "n": 4}
	for name, attrs := range configs {
		t.Run(name, func(t *testing.T) {
			ms, d := openLangid(t, c, attrs, "de")
			if d.HasErrors() {
				t.Fatal(d.Err())
			}
			vals, err := ms.Add(deCell[:2])
			if err != nil {
				t.Fatal(err)
			}
			more, err := ms.Add(deCell[2:])
			if err != nil {
				t.Fatal(err)
			}
			rest, agg, err := ms.Finish()
			if err != nil {
				t.Fatal(err)
			}
			vals = append(append(vals, more...), rest...)
			if len(vals) != len(deCell) {
				t.Fatalf("%d values for %d examples", len(vals), len(deCell))
			}
			for _, v := range vals {
				for k, w := range wantPer[v.ID] {
					if v.Values[k] != w {
						t.Errorf("%s: %s = %v, want %v (note %q)", v.ID, k, v.Values[k], w, v.Note)
					}
				}
				for _, frag := range wantNote[v.ID] {
					if !strings.Contains(v.Note, frag) {
						t.Errorf("%s: note %q lacks %q", v.ID, v.Note, frag)
					}
				}
			}
			for k, w := range wantAgg {
				if g, ok := agg.Values[k]; !ok || math.Abs(g-w) > 1e-12 {
					t.Errorf("aggregate %s = %v, want %v", k, g, w)
				}
			}
			var wrong map[string]int
			if err := json.Unmarshal(agg.Details.(json.RawMessage), &wrong); err != nil {
				t.Fatal(err)
			}
			if len(wrong) != 2 || wrong["es"] != 1 || wrong["ar"] != 1 {
				t.Errorf("wrong languages %v, want es 1, ar 1", wrong)
			}
		})
	}
}

// The same texts measured in a Spanish cell: the target comes from the
// cell, not from the texts.
// The default model is built in: a cell measures with no npm on PATH and an
// empty cache, over the real plugin protocol.
func TestLangidComponentDefaultModelOffline(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	c := startLangid(t)
	ms, d := openLangid(t, c, map[string]cty.Value{"cache_dir": cty.StringVal(t.TempDir())}, "de")
	if d.HasErrors() {
		t.Fatal(d.Err())
	}
	vals, err := ms.Add(deCell[:2])
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Values["value"] != 1 || vals[1].Values["response_on_target"] != 0 {
		t.Fatalf("values %+v", vals)
	}
	if _, _, err := ms.Finish(); err != nil {
		t.Fatal(err)
	}
}

func TestLangidComponentTargetFromCell(t *testing.T) {
	path, _ := testModel(t)
	c := startLangid(t)
	ms, d := openLangid(t, c, map[string]cty.Value{"model": cty.StringVal(path)}, "es-MX")
	if d.HasErrors() {
		t.Fatal(d.Err())
	}
	vals, err := ms.Add([]sdk.Example{{ID: "es", Prompt: textES, Response: textES}, {ID: "de", Prompt: textES, Response: textDE}})
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Values["value"] != 1 || vals[1].Values["value"] != 0 || vals[1].Values["prompt_on_target"] != 1 {
		t.Fatalf("values %+v", vals)
	}
}

// Every cell of a run opens the metric; the model is loaded once per
// plugin process.
func TestLangidComponentLoadsOnce(t *testing.T) {
	path, _ := testModel(t)
	c := startLangid(t)
	attrs := map[string]cty.Value{"model": cty.StringVal(path), "cache_dir": cty.StringVal(t.TempDir())}
	before := modelLoads.Load()
	for _, lang := range []string{"de", "es", "ja", "de"} {
		ms, d := openLangid(t, c, attrs, lang)
		if d.HasErrors() {
			t.Fatal(d.Err())
		}
		if _, _, err := ms.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	if n := modelLoads.Load() - before; n != 1 {
		t.Fatalf("model loaded %d times for four cells, want once", n)
	}
}

func TestLangidComponentUnknownLanguage(t *testing.T) {
	path, _ := testModel(t)
	c := startLangid(t)
	_, d := openLangid(t, c, map[string]cty.Value{"model": cty.StringVal(path)}, "tlh") // Klingon
	if !d.HasErrors() || sdk.PathString(d[0].Path) != "model" || !strings.Contains(d[0].Detail, `"tlh" is not among the languages`) {
		t.Fatalf("diagnostics %v", d)
	}
}

// Runs without the real model: a source that cannot be fetched or loaded
// is a diagnostic on `model` at Open; a failed fetch is made once per plugin
// process (one run), and every later cell gets the same error at once.
func TestLangidComponentModelErrors(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	}))
	defer srv.Close()
	garbage := filepath.Join(t.TempDir(), "broken.ftz")
	if err := os.WriteFile(garbage, []byte("this is not a fastText model"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startLangid(t)
	tests := []struct {
		name   string
		attrs  map[string]cty.Value
		lang   string
		path   string
		detail string
	}{
		{"unreachable URL", map[string]cty.Value{"model": cty.StringVal(srv.URL + "/lid.176.ftz"), "cache_dir": cty.StringVal(t.TempDir())}, "de", "model", "404"},
		{"not a model", map[string]cty.Value{"model": cty.StringVal(garbage)}, "de", "model", "broken.ftz"},
		{"missing file", map[string]cty.Value{"model": cty.StringVal(garbage + ".gone")}, "de", "model", "no such file"},
		{"no language", map[string]cty.Value{"model": cty.StringVal(garbage)}, "", "", "has none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d := openLangid(t, c, tt.attrs, tt.lang)
			if !d.HasErrors() || sdk.PathString(d[0].Path) != tt.path || !strings.Contains(d[0].Detail, tt.detail) {
				t.Fatalf("diagnostics %v; want an error at %q mentioning %q", d, tt.path, tt.detail)
			}
		})
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("server asked %d times, want 1", n)
	}
	_, d := openLangid(t, c, tests[0].attrs, "ja")
	if n := hits.Load(); n != 1 {
		t.Fatalf("a failed fetch was tried again: server asked %d times after a second open, want 1", n)
	}
	if !d.HasErrors() || !strings.Contains(d[0].Detail, "404") || !strings.Contains(d[0].Detail, "leave model unset") {
		t.Fatalf("second cell: diagnostics %v, want the same fetch error", d)
	}
}

func TestLangidComponentValidate(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "model.ftz")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startLangid(t)
	tests := []struct {
		name  string
		model cty.Value
		err   string // "" = valid
	}{
		{"default", cty.NullVal(cty.String), ""},
		{"existing file", cty.StringVal(file), ""},
		{"URL is not fetched", cty.StringVal(srv.URL + "/lid.176.ftz"), ""},
		{"missing file", cty.StringVal(filepath.Join(dir, "nope.ftz")), "model file not found"},
		{"directory", cty.StringVal(dir), "model is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sdktest.Config(t, New().Describe().Schema, map[string]cty.Value{"model": tt.model})
			d, err := c.ValidateConfig(context.Background(), sdk.KindMetric, "langid", cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tt.err == "" {
				if len(d) != 0 {
					t.Fatalf("unexpected %v", d)
				}
				return
			}
			if len(d) != 1 || sdk.PathString(d[0].Path) != "model" || d[0].Summary != tt.err {
				t.Fatalf("diagnostics %v, want %q at model", d, tt.err)
			}
		})
	}
	if hits.Load() != 0 {
		t.Fatal("ValidateConfig fetched the model")
	}
}
