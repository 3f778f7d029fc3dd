package strategy

import (
	"fmt"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// BenchmarkExpand expands one study-sized cell: 10,500 requests with k = 3
// examples from 10,000 eligible rows.
func BenchmarkExpand(b *testing.B) {
	rows := make([]Row, 10000)
	for i := range rows {
		rows[i] = Row{Set: "s", ID: fmt.Sprintf("r%05d", i), Prompt: "p", Response: "r", Language: "ar"}
	}
	st := &spec.Strategy{Name: "generate", InContext: 3, Input: spec.StrategyInput{Language: "target"}}
	b.ReportAllocs()
	for b.Loop() {
		if got := Expand(st, rows, "ar", 10500, 1); len(got) != 10500 {
			b.Fatal(len(got))
		}
	}
}
