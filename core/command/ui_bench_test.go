package command

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/core/bind"
	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/live"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// paperStore writes a store shaped like the paper's study (10 teachers × 6
// languages × 3 strategies × 3 seeds; generate, six metrics, training and
// evaluation units per teacher, language and seed; 100 examples and 20
// failures per cell; ten metric values per cell view, four of them with
// 1,000 per-example values) and the plan that goes with it.
func paperStore(b *testing.B) (*store.Store, *engine.Prepared) {
	b.Helper()
	dir := b.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	langs := []string{"ar", "cs", "de", "es", "id", "ja"}
	strategies := []string{"generate", "respond", "translate"}
	metricNames := []string{"diversity", "duplicates", "judge", "langid", "length", "perplexity"}
	valueNames := []string{"diversity.prompt", "diversity.response", "duplicates", "judge", "langid", "length.prompt_chars", "length.response_chars", "perplexity", "perplexity.median", "relevance"}
	cap := 500.0
	p := &engine.Prepared{Exp: &spec.Experiment{Name: "paper", Languages: langs, BudgetUSD: &cap}, Plan: &plan.Plan{},
		Bound: &bind.Bound{Metrics: map[string]*bind.Component{}}}
	for _, m := range metricNames {
		p.Bound.Metrics[m] = &bind.Component{Info: sdk.ComponentInfo{Metric: &sdk.MetricInfo{Values: []string{"prompt", "response", "prompt_chars", "response_chars", "median"}}}}
	}
	p.Bound.Metrics["relevance"] = &bind.Component{}
	w := st.NewWriter(store.WriterOptions{BatchRows: 5000})
	var units []store.Unit
	var aggs []store.MetricAggregate
	per := make([]float64, 1000)
	for i := range per {
		per[i] = float64(i%97) / 97
	}
	detail, _ := json.Marshal(per)
	for ti := range 10 {
		teacher := fmt.Sprintf("teacher-%02d", ti)
		p.Teachers = append(p.Teachers, plan.TeacherRef{Name: teacher, Spec: &spec.Teacher{Name: teacher}})
		for _, lang := range langs {
			for seed := 1; seed <= 3; seed++ {
				add := func(stage plan.Stage, strategy, metric string, n int) string {
					u := &plan.Unit{Key: fmt.Sprintf("%s/%s/%s/%d/%s%s", stage, teacher, lang, seed, strategy, metric), Stage: stage, Teacher: teacher,
						Language: lang, Strategy: strategy, Metric: metric, Seed: int64(seed), N: n, Requests: n, EstCostUSD: 0.5}
					u.Label = u.Key
					p.Plan.Units = append(p.Plan.Units, u)
					units = append(units, store.Unit{Key: u.Key, Stage: string(stage), Label: u.Label, State: store.Done})
					return u.Key
				}
				for _, s := range strategies {
					uk := add(plan.Generate, s, "", 120)
					for i := range 120 {
						if i < 100 {
							err = w.Example(&store.Example{Key: fmt.Sprintf("%s#%d", uk, i), Unit: uk, Teacher: teacher, Model: "m", Language: lang, Strategy: s, Seed: seed,
								SeedRowID: fmt.Sprint(i), Idx: i, Prompt: "prompt", Response: "response", InputTokens: 100, OutputTokens: 200, CostUSD: 0.001})
						} else {
							err = w.Failure(&store.Failure{Key: fmt.Sprintf("%s#%d", uk, i), Unit: uk, Teacher: teacher, Language: lang, Strategy: s, Seed: seed,
								Reason: "rate_limit", Raw: "429 Too Many Requests", Attempts: 5, Final: true})
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				for _, m := range metricNames {
					add(plan.Metrics, "", m, 0)
				}
				add(plan.Train, "", "", 0)
				add(plan.Evaluate, "", "", 0)
				for _, s := range append([]string{""}, strategies...) {
					for vi, name := range valueNames {
						a := store.MetricAggregate{Metric: name, Teacher: teacher, Language: lang, Strategy: s, Seed: seed, Value: float64(ti*10 + vi),
							Direction: "higher", N: 1000, Stderr: 0.01}
						if vi < 4 {
							a.Detail = detail
						}
						aggs = append(aggs, a)
					}
				}
			}
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := st.PutUnits(units); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < len(aggs); i += 500 {
		if err := st.PutMetricAggregate(aggs[i:min(i+500, len(aggs))]...); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	ro, err := store.OpenReadOnly(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ro.Close() })
	return ro, p
}

// BenchmarkUIPoll measures one poll of the live view on a paper-scale
// store: status.json (what the page polled before: the figures of `status
// --json`) against live.json (those and spend, GPU-hours, cells, metric
// values and the cached provisional ranking). The ranking itself is scored
// off the polling path (see score's BenchmarkComputePaperScale*).
//
//	go test ./core/command -run '^$' -bench UIPoll -benchtime 20x
func BenchmarkUIPoll(b *testing.B) {
	st, p := paperStore(b)
	exp := &spec.Experiment{Name: "paper", Store: st.Dir()}
	v := live.New(st)
	v.SetPrepared(p, nil)
	h := uiHandler(exp, st, v, "")
	get := func(path string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
		}
	}
	// The first live.json starts scoring in the background (this synthetic
	// plan cannot be scored; its error is cached like a ranking): wait for
	// it, so the polls below measure the polling path alone.
	get("/live.json")
	v.Wait()
	// CPU time per poll is reported beside the wall time: the machine
	// the view shares with the run is what a poll costs.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, path := range []string{"/status.json", "/live.json"} {
		b.Run(path[1:], func(b *testing.B) {
			start := cpu()
			for b.Loop() {
				get(path)
			}
			b.ReportMetric(float64((cpu()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
