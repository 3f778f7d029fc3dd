package diversity

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

func startDiversity(t *testing.T) *sdk.Client {
	t.Helper()
	return sdktest.Start(t, sdk.ServeOpts{Name: "diversity", Version: "1", Metrics: []sdk.Metric{New()}})
}

// measureCell runs a cell through the component over real gRPC in batches
// of two and returns the per-example values by ID and the aggregate.
func measureCell(t *testing.T, attrs map[string]cty.Value, examples []sdk.Example) (map[string]map[string]float64, *sdk.Aggregate) {
	t.Helper()
	c := startDiversity(t)
	cfg := sdktest.Config(t, New().Describe().Schema, attrs)
	ms, d, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "diversity", Config: cfg, Language: "de"})
	if err != nil || d.HasErrors() {
		t.Fatalf("open: %v %v", err, d.Err())
	}
	for lo := 0; lo < len(examples); lo += 2 {
		vals, err := ms.Add(examples[lo:min(lo+2, len(examples))])
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) != 0 {
			t.Fatalf("Add returned values %v; diversity needs the whole cell", vals)
		}
	}
	vals, agg, err := ms.Finish()
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]map[string]float64{}
	for _, v := range vals {
		per[v.ID] = v.Values
	}
	return per, agg
}

var variedCell = []sdk.Example{
	{ID: "1", Prompt: "Wie backe ich ein einfaches Brot?", Response: "Mische Mehl, Wasser, Hefe und Salz und backe den Teig eine Stunde."},
	{ID: "2", Prompt: "Was ist die Hauptstadt von Kenia?", Response: "Nairobi ist die Hauptstadt und größte Stadt Kenias."},
	{ID: "3", Prompt: "Erkläre, wie ein Regenbogen entsteht.", Response: "Sonnenlicht wird in Regentropfen gebrochen und gespiegelt."},
	{ID: "4", Prompt: "Schreibe ein Haiku über den Herbst.", Response: "Blätter fallen leis / der Wind trägt sie übers Feld / kalt wird der Abend"},
	{ID: "5", Prompt: "Welche Planeten hat unser Sonnensystem?", Response: "Merkur, Venus, Erde, Mars, Jupiter, Saturn, Uranus und Neptun."},
}

// definition computes 1 − mean off-diagonal cosine the way docs/method.md
// defines it, over the full n×n matrix, as the reference for the streaming
// sum the library uses.
func definition(t *testing.T, texts []string, dim int) (diversity float64, perExample []float64) {
	h, err := NewHashEmbedder(HashEmbedderOptions{Dim: dim})
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := h.Embed(context.Background(), texts)
	cos := func(a, b []float32) float64 {
		var d, na, nb float64
		for i := range a {
			d += float64(a[i]) * float64(b[i])
			na += float64(a[i]) * float64(a[i])
			nb += float64(b[i]) * float64(b[i])
		}
		return d / math.Sqrt(na*nb)
	}
	n := len(vs)
	total := 0.0
	for i := range vs {
		row := 0.0
		for j := range vs {
			if i != j {
				row += cos(vs[i], vs[j])
			}
		}
		total += row
		perExample = append(perExample, 1-row/float64(n-1))
	}
	return 1 - total/float64(n*(n-1)), perExample
}

func TestDiversityComponentHash(t *testing.T) {
	same := make([]sdk.Example, 5)
	for i := range same {
		same[i] = sdk.Example{ID: string(rune('a' + i)), Prompt: "Wie backe ich ein Brot?", Response: "Mit Mehl, Wasser und Hefe."}
	}
	tests := []struct {
		name     string
		cell     []sdk.Example
		dim      int64
		identity bool // all examples equal: diversity 0, mean cosine 1
	}{
		{"identical", same, 512, true},
		{"varied", variedCell, 512, false},
		{"varied dim 64", variedCell, 64, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			per, agg := measureCell(t, map[string]cty.Value{"dim": cty.NumberIntVal(tt.dim)}, tt.cell)
			if agg.Values["n"] != float64(len(tt.cell)) || len(per) != len(tt.cell) {
				t.Fatalf("n = %v, %d per-example values; want %d", agg.Values["n"], len(per), len(tt.cell))
			}
			if _, ok := agg.Values["value"]; ok {
				t.Errorf("diversity has no single value, got %v", agg.Values["value"])
			}
			for _, field := range []string{"prompt", "response"} {
				var texts []string
				for _, e := range tt.cell {
					if field == "prompt" {
						texts = append(texts, e.Prompt)
					} else {
						texts = append(texts, e.Response)
					}
				}
				want, wantPer := definition(t, texts, int(tt.dim))
				got := agg.Values[field]
				if tt.identity && math.Abs(got) > 1e-9 {
					t.Errorf("%s diversity of identical texts %v, want 0", field, got)
				}
				if !tt.identity && got < 0.5 {
					t.Errorf("%s diversity of varied texts %v, want well above 0", field, got)
				}
				if math.Abs(got-want) > 1e-9 {
					t.Errorf("%s diversity %v, the n×n definition gives %v", field, got, want)
				}
				if mc := agg.Values[field+"_mean_cosine"]; math.Abs(mc-(1-got)) > 1e-12 {
					t.Errorf("%s mean cosine %v, want 1 − diversity = %v", field, mc, 1-got)
				}
				for i, e := range tt.cell {
					// bfloat16 retention: per-example error up to 2^-8·n/(n−1).
					if g := per[e.ID][field]; math.Abs(g-wantPer[i]) > 0.005 {
						t.Errorf("%s per-example %s = %v, want %v", field, e.ID, g, wantPer[i])
					}
				}
			}
		})
	}
}

// Empty texts have no features and a single example has no pairs: those
// values are left out rather than reported as NaN.
func TestDiversityComponentUndefinedValues(t *testing.T) {
	per, agg := measureCell(t, map[string]cty.Value{}, []sdk.Example{{ID: "only", Prompt: "Hallo", Response: "Welt"}})
	if len(per) != 0 || len(agg.Values) != 1 || agg.Values["n"] != 1 {
		t.Fatalf("one example: per %v, aggregate %v; want only n = 1", per, agg.Values)
	}
	cell := append([]sdk.Example{{ID: "blank", Prompt: "Was ist Licht?", Response: "  "}}, variedCell[:3]...)
	per, agg = measureCell(t, map[string]cty.Value{}, cell)
	if _, ok := per["blank"]["response"]; ok || len(per["blank"]) != 1 {
		t.Errorf("blank response: values %v, want a prompt value only", per["blank"])
	}
	var rs []string
	for _, e := range cell[1:] {
		rs = append(rs, e.Response)
	}
	if want, _ := definition(t, rs, 512); math.Abs(agg.Values["response"]-want) > 1e-9 {
		t.Errorf("response diversity %v, want %v over the three non-blank responses", agg.Values["response"], want)
	}
}

// The endpoint embedder talks to a real HTTP server; one-hot embeddings
// make the expected values exact.
func TestDiversityComponentEndpoint(t *testing.T) {
	vectors := map[string][]float32{
		"p1": {1, 0, 0, 0}, "p2": {0, 1, 0, 0}, "p3": {0, 0, 1, 0},
		"x": {1, 0, 0, 0}, "y": {0, 0, 0, 2},
	}
	var requests, texts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/embeddings" || r.Header.Get("Authorization") != "Bearer sk-test" {
			http.Error(w, `{"error":{"message":"wrong path or key"}}`, http.StatusUnauthorized)
			return
		}
		var req struct {
			Model string
			Input []string
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "emb-1" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		requests.Add(1)
		texts.Add(int64(len(req.Input)))
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var out struct {
			Data []item `json:"data"`
		}
		for i, s := range req.Input {
			out.Data = append(out.Data, item{i, vectors[s]})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	cell := []sdk.Example{{ID: "a", Prompt: "p1", Response: "x"}, {ID: "b", Prompt: "p2", Response: "x"}, {ID: "c", Prompt: "p3", Response: "y"}}
	attrs := map[string]cty.Value{
		"embedder": cty.StringVal("endpoint"), "base_url": cty.StringVal(srv.URL + "/v1"), "model": cty.StringVal("emb-1"),
		"api_key": cty.StringVal("sk-test"), "batch_size": cty.NumberIntVal(2), "cache_dir": cty.StringVal(t.TempDir()),
	}
	per, agg := measureCell(t, attrs, cell)
	// Prompts are orthogonal: diversity 1. Responses x, x, y: the pairs
	// have cosines 1, 0, 0, so the mean is 1/3 and a, b are at 1/2 from
	// the others, c at 1.
	want := map[string]float64{"prompt": 1, "response": 2.0 / 3, "prompt_mean_cosine": 0, "response_mean_cosine": 1.0 / 3, "n": 3}
	for k, w := range want {
		if g := agg.Values[k]; math.Abs(g-w) > 1e-12 {
			t.Errorf("aggregate %s = %v, want %v", k, g, w)
		}
	}
	wantPer := map[string]float64{"a": 0.5, "b": 0.5, "c": 1}
	for id, w := range wantPer {
		if g := per[id]; g["prompt"] != 1 || math.Abs(g["response"]-w) > 1e-12 {
			t.Errorf("example %s: %v, want prompt 1, response %v", id, g, w)
		}
	}
	if requests.Load() == 0 {
		t.Fatal("the embeddings server was never asked")
	}
	// A second cell with the same cache_dir asks the server nothing.
	before := requests.Load()
	if _, agg2 := measureCell(t, attrs, cell); agg2.Values["response"] != agg.Values["response"] || requests.Load() != before {
		t.Errorf("cached run: response %v, %d new requests; want the same value and none", agg2.Values["response"], requests.Load()-before)
	}
}

func TestDiversityComponentValidate(t *testing.T) {
	c := startDiversity(t)
	schema := New().Describe().Schema
	endpoint := func(kv ...any) map[string]cty.Value {
		m := map[string]cty.Value{"embedder": cty.StringVal("endpoint"), "base_url": cty.StringVal("http://127.0.0.1:8000/v1"), "model": cty.StringVal("emb")}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(cty.Value)
		}
		return m
	}
	tests := []struct {
		name      string
		attrs     map[string]cty.Value
		errors    []string // attribute paths of the error diagnostics
		warningAt string
	}{
		{"hash defaults", map[string]cty.Value{}, nil, ""},
		{"endpoint complete", endpoint(), nil, ""},
		{"endpoint without base_url", endpoint("base_url", cty.NullVal(cty.String)), []string{"base_url"}, ""},
		{"endpoint without model", endpoint("model", cty.NullVal(cty.String)), []string{"model"}, ""},
		{"endpoint without either", map[string]cty.Value{"embedder": cty.StringVal("endpoint")}, []string{"base_url", "model"}, ""},
		{"endpoint ftp url", endpoint("base_url", cty.StringVal("ftp://host/v1")), []string{"base_url"}, ""},
		{"endpoint batch_size 0", endpoint("batch_size", cty.NumberIntVal(0)), []string{"batch_size"}, ""},
		{"unknown embedder", map[string]cty.Value{"embedder": cty.StringVal("bert")}, []string{"embedder"}, ""},
		{"dim too small", map[string]cty.Value{"dim": cty.NumberIntVal(8)}, []string{"dim"}, ""},
		{"dim fractional", map[string]cty.Value{"dim": cty.NumberFloatVal(100.5)}, []string{"dim"}, ""},
		{"hash ignores base_url", map[string]cty.Value{"base_url": cty.StringVal("http://x/v1")}, nil, "base_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sdktest.Config(t, schema, tt.attrs)
			d, err := c.ValidateConfig(context.Background(), sdk.KindMetric, "diversity", cfg)
			if err != nil {
				t.Fatal(err)
			}
			var errs []string
			warning := ""
			for _, x := range d {
				if x.Severity == sdk.Error {
					errs = append(errs, sdk.PathString(x.Path))
				} else {
					warning = sdk.PathString(x.Path)
				}
			}
			if len(errs) != len(tt.errors) || warning != tt.warningAt {
				t.Fatalf("diagnostics %v, want errors at %v and warning at %q", d, tt.errors, tt.warningAt)
			}
			for i := range errs {
				if errs[i] != tt.errors[i] {
					t.Errorf("error %d at %q, want %q", i, errs[i], tt.errors[i])
				}
			}
			_, od, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "diversity", Config: cfg, Language: "de"})
			if err != nil || od.HasErrors() != (len(tt.errors) > 0) {
				t.Errorf("open: %v %v; want errors %v", err, od, tt.errors)
			}
		})
	}
}
