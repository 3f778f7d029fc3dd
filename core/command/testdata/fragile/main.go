// fragile is a test plugin whose teacher, metric and trainer misbehave as
// FRAGILE_MODE says (the host passes it through POLYGLOT_PLUGIN_ENV):
//
//	crash-once   the first metric batch, training and evaluation exit the
//	             process (once each: a file in FRAGILE_DIR remembers it)
//	metric-hang  every metric batch hangs
//	open-hang    opening the teacher hangs
//	panic        every teacher call panics
//	metric-fail  the metric fails on Spanish cells with an error (as a
//	             perplexity endpoint the server cannot serve would)
//
// Otherwise it works: the teacher echoes, the metric measures length, the
// trainer "trains" at once.
package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/polyglot-teachers/polyglot/sdk"
)

var mode = os.Getenv("FRAGILE_MODE")

// crashOnce exits the process the first time what happens in this test.
func crashOnce(what string) {
	if mode != "crash-once" {
		return
	}
	f := filepath.Join(os.Getenv("FRAGILE_DIR"), what)
	if _, err := os.Stat(f); err == nil {
		return
	}
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		panic(err)
	}
	os.Exit(9)
}

type teacher struct{}

func (teacher) Describe() sdk.Description {
	return sdk.Description{Name: "fragile", Schema: sdk.Schema()}
}

func (teacher) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	if mode == "open-hang" {
		time.Sleep(time.Hour)
	}
	return sdk.GeneratorFunc(func(ctx context.Context, c *sdk.Call) (*sdk.Result, error) {
		if mode == "panic" {
			panic("fragile was told to panic")
		}
		return &sdk.Result{Text: "echo: " + c.Messages[len(c.Messages)-1].Content, FinishReason: "stop"}, nil
	}), nil
}

type metric struct{}

func (metric) Describe() sdk.Description {
	return sdk.Description{Name: "fragile", Schema: sdk.Schema(), Metric: &sdk.MetricInfo{Direction: "higher"}}
}

func (metric) Open(ctx context.Context, req sdk.MetricRequest) (sdk.Accumulator, sdk.Diagnostics) {
	return &acc{}, nil
}

type acc struct{ sum, n float64 }

func (a *acc) Add(ctx context.Context, batch []sdk.Example) ([]sdk.ExampleValue, error) {
	crashOnce("metric")
	if mode == "metric-hang" {
		<-ctx.Done()
		time.Sleep(time.Hour)
	}
	var out []sdk.ExampleValue
	for _, e := range batch {
		if mode == "metric-fail" && e.Language == "es" {
			return nil, errors.New("the server has no /v1/completions endpoint with logprobs for this model (HTTP 404)")
		}
		x := float64(len(e.Response))
		a.sum += x
		a.n++
		out = append(out, sdk.ExampleValue{ID: e.ID, Values: map[string]float64{"value": x}})
	}
	return out, nil
}

func (a *acc) Finish(ctx context.Context) ([]sdk.ExampleValue, *sdk.Aggregate, error) {
	return nil, &sdk.Aggregate{Values: map[string]float64{"value": a.sum / a.n}}, nil
}

type trainer struct{}

func (trainer) Describe() sdk.Description {
	return sdk.Description{Name: "fragile", Schema: sdk.Schema()}
}

func (trainer) Train(ctx context.Context, req *sdk.TrainRequest, r sdk.Reporter) (*sdk.TrainResult, error) {
	crashOnce("train")
	return &sdk.TrainResult{Artifact: filepath.Join(req.WorkDir, "model")}, nil
}

func (trainer) Evaluate(ctx context.Context, req *sdk.EvalRequest, r sdk.Reporter) (*sdk.EvalResult, error) {
	crashOnce("evaluate")
	var out sdk.EvalResult
	for i, b := range req.Benchmarks {
		out.Scores = append(out.Scores, sdk.BenchmarkScore{Benchmark: b.Name, Score: 0.5 + 0.01*float64(i+len(req.Model)%7), StdErr: 0.01, N: 100})
	}
	return &out, nil
}

func main() {
	sdk.Serve(sdk.ServeOpts{Name: "fragile", Version: "1.0.0", Teachers: []sdk.Teacher{teacher{}}, Metrics: []sdk.Metric{metric{}}, Trainers: []sdk.Trainer{trainer{}}})
}
