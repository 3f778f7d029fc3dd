package pluginhost

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// The figures the foundation promises: plugin start-up time, and the cost of
// a unary and of a streamed call through a real plugin process, against the
// same work done by a direct in-process call.

func benchManager(b *testing.B) *Manager {
	dir := b.TempDir()
	if _, err := Install(context.Background(), dir, bins["echo"], ""); err != nil {
		b.Fatal(err)
	}
	return &Manager{Dirs: []string{dir}, WorkDir: dir, Log: zerolog.Nop()}
}

func BenchmarkPluginStartup(b *testing.B) {
	m := benchManager(b)
	for b.Loop() {
		if _, err := m.Get(context.Background(), "echo"); err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}

// directEcho does what the echo plugin's Generate does, in-process.
func directEcho(call *sdk.Call) *sdk.Result {
	last := call.Messages[len(call.Messages)-1].Content
	return &sdk.Result{ID: call.ID, Text: strings.ToUpper("> " + last), FinishReason: "stop"}
}

func BenchmarkCallDirect(b *testing.B) {
	call := &sdk.Call{ID: "x", Messages: []sdk.Message{{Role: "user", Content: "hello world"}}}
	var sink *sdk.Result
	for b.Loop() {
		sink = directEcho(call)
	}
	_ = sink
}

func BenchmarkCallUnary(b *testing.B) {
	m := benchManager(b)
	defer m.Close()
	r, err := m.Get(context.Background(), "echo")
	if err != nil {
		b.Fatal(err)
	}
	cfg := echoConfig("> ", true, 1)
	for b.Loop() {
		if _, err := r.Client.ValidateConfig(context.Background(), sdk.KindTeacher, "echo", cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallStreamed sends calls over one open Generate stream in batches
// of 64, the way the engine does; ns/op is the cost per call.
func BenchmarkCallStreamed(b *testing.B) {
	m := benchManager(b)
	defer m.Close()
	r, err := m.Get(context.Background(), "echo")
	if err != nil {
		b.Fatal(err)
	}
	ts, diags, err := r.Client.OpenTeacher(context.Background(), sdk.TeacherOpen{Component: "echo", Config: echoConfig("> ", true, 1), Concurrency: 64})
	if err != nil || diags.HasErrors() {
		b.Fatal(err, diags.Err())
	}
	const batch = 64
	calls := make([]*sdk.Call, batch)
	for i := range calls {
		calls[i] = &sdk.Call{ID: fmt.Sprint(i), Messages: []sdk.Message{{Role: "user", Content: "hello world"}}}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		if err := ts.Send(calls); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < batch; {
			rs, err := ts.Recv()
			if err != nil {
				b.Fatal(err)
			}
			got += len(rs)
		}
	}
	b.StopTimer()
	ts.CloseSend()
}

var _ = cty.NilVal
