package engine

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// A generate unit holds its seed rows' places, not their text: with 48 MB
// of seed prompts, preparing a unit and making its requests grows the
// heap by a small fraction of that (the rows used to be held decoded for
// the whole run, more than the file's size).
func TestSeedRowsStayOutOfTheHeap(t *testing.T) {
	const rows, promptBytes = 24_000, 2_000
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "seeds.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	pad := strings.Repeat("x", promptBytes)
	for i := range rows {
		fmt.Fprintf(w, `{"id":"r%d","prompt":"%d %s","response":"%s"}`+"\n", i, i, pad, pad[:200])
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	spc := `
experiment "mem" {
  languages         = ["de"]
  examples_per_cell = 10
}
seeds "s" {
  path     = "seeds.jsonl"
  language = "de"
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
strategy "generate" {
  share      = 1
  in_context = 3
  step "g" {
    template = "t.txt"
  }
  emit {
    prompt   = "steps.g.text"
    response = "steps.g.text"
  }
}
`
	for name, text := range map[string]string{"experiment.hcl": spc, "t.txt": "{{examples}}\n{{seed.prompt}}"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exp, diags := spec.LoadDir(dir, spec.LoadOptions{Env: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := &generator{r: &Runner{P: &Prepared{Exp: exp}, Store: st}}
	defer g.r.closeSeeds()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	u := &plan.Unit{Key: "g", Stage: plan.Generate, Teacher: "t", Language: "de", Strategy: "generate", Seed: 1, N: 2 * rows}
	in, err := g.unitInput(u, exp.Strategy("generate"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if _, err := in.reqs.Request(i); err != nil {
			t.Fatal(err)
		}
	}
	grown := int64(heap()) - int64(before)
	runtime.KeepAlive(in)
	file := int64(rows * (promptBytes + 230))
	t.Logf("seed file %d MiB; heap grew %.1f MiB (%.3f of the file)", file>>20, float64(grown)/(1<<20), float64(grown)/float64(file))
	if grown > file/20 {
		t.Errorf("preparing the unit grew the heap by %d MiB for a %d MiB seed file; want under a twentieth of it", grown>>20, file>>20)
	}
}
