package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkWriterGroupCommit writes examples the way the generate stage
// does: groups of 32 (a teacher's concurrency) committed together, rows
// the size of a short chat answer. One op is one example.
func BenchmarkWriterGroupCommit(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w := s.NewWriter(WriterOptions{})
	defer w.Close()
	unit := strings.Repeat("u", 64)
	params := json.RawMessage(`{"temperature":0.7,"top_p":0.95,"max_tokens":64}`)
	resp := strings.Repeat("Eine kurze Antwort auf Deutsch. ", 10)
	const group = 32
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := &Example{Key: fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15), Unit: unit, Teacher: "gpt", Model: "gpt-fake-1", Language: "de", Strategy: "respond",
			SeedRowID: fmt.Sprintf("de-%d", i), Idx: i, Prompt: fmt.Sprintf("Frage %d: erkläre Thema %d.", i, i*7919%10007), Response: resp,
			Params: params, InputTokens: 40, OutputTokens: 80, Latency: time.Millisecond}
		if err := w.Example(e); err != nil {
			b.Fatal(err)
		}
		if i%group == group-1 {
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}
