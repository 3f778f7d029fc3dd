package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

const benchConcurrency = 32

func benchCall(i int) *sdk.Call {
	t, p := 0.8, 0.9
	return &sdk.Call{ID: fmt.Sprint(i), Messages: []sdk.Message{
		{Role: "system", Content: "You are a fluent, culturally aware expert in German."},
		{Role: "user", Content: "Schreibe eine kurze Antwort auf die Frage, warum der Himmel blau ist."},
	}, Sampling: sdk.Sampling{Temperature: &t, TopP: &p, MaxTokens: 256}}
}

// bareHTTP sends n requests with the same body the plugin sends, from
// benchConcurrency goroutines on a plain http.Client, and returns req/s.
func bareHTTP(b *testing.B, srv *fakeprovider.Server, n int) float64 {
	g := newGenerator(config{}, "bench-model")
	body, _ := json.Marshal(g.request(benchCall(0)))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchConcurrency * 2}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// pluginPath sends n calls through sdktest's in-process gRPC on one
// Generate stream with the same concurrency and returns req/s.
func pluginPath(b *testing.B, srv *fakeprovider.Server, n int) float64 {
	cfg := sdktest.Config(b, schema, map[string]cty.Value{"base_url": cty.StringVal(srv.URL + "/v1")})
	c := sdktest.Start(b, sdk.ServeOpts{Name: "bench", Version: "0", Teachers: []sdk.Teacher{New()}})
	calls := make([]*sdk.Call, n)
	for i := range calls {
		calls[i] = benchCall(i)
	}
	start := time.Now()
	ts, diags, err := c.OpenTeacher(context.Background(), sdk.TeacherOpen{Component: Name, Model: "bench-model", Config: cfg, Concurrency: benchConcurrency})
	if err != nil || diags.HasErrors() {
		b.Fatal(err, diags.Err())
	}
	go func() {
		for i := 0; i < n; i += 256 {
			if err := ts.Send(calls[i:min(i+256, n)]); err != nil {
				b.Error(err)
				return
			}
		}
		_ = ts.CloseSend()
	}()
	got := 0
	for {
		rs, err := ts.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rs {
			if r.Err != nil {
				b.Fatalf("call %s: %v", r.ID, r.Err)
			}
		}
		got += len(rs)
	}
	if got != n {
		b.Fatalf("%d results for %d calls", got, n)
	}
	return float64(n) / time.Since(start).Seconds()
}

func BenchmarkBareHTTP(b *testing.B) {
	srv := fakeprovider.Start(b, fakeprovider.Options{})
	b.ResetTimer()
	b.ReportMetric(bareHTTP(b, srv, b.N), "req/s")
}

func BenchmarkOpenAIPath(b *testing.B) {
	srv := fakeprovider.Start(b, fakeprovider.Options{})
	b.ResetTimer()
	b.ReportMetric(pluginPath(b, srv, b.N), "req/s")
}

// BenchmarkOpenAIPathRatio measures both paths in the same run, alternating
// to spread machine noise evenly, and reports the plugin path's rate as a
// fraction of the bare loop's (the target is >= 0.8).
func BenchmarkOpenAIPathRatio(b *testing.B) {
	srv := fakeprovider.Start(b, fakeprovider.Options{})
	const n = 3000
	bareHTTP(b, srv, 500) // warm both connection pools
	pluginPath(b, srv, 500)
	b.ResetTimer()
	var bare, plug float64
	for range b.N {
		bare += bareHTTP(b, srv, n)
		plug += pluginPath(b, srv, n)
	}
	b.ReportMetric(bare/float64(b.N), "bare_req/s")
	b.ReportMetric(plug/float64(b.N), "plugin_req/s")
	b.ReportMetric(plug/bare, "ratio")
}
