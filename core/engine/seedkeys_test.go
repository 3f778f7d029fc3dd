package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/core/strategy"
)

var updateSeedKeys = flag.Bool("update-seedkeys", false, "rewrite testdata/seedkeys.golden")

// seedKeysSpec is an experiment whose seed data covers what decides a
// request: three formats, a glob, fixed and per-row languages, strategies
// and tags columns, missing ids (named file:line), duplicate ids (ordered
// by prompt), blank lines, quoted multi-line CSV fields, a list column in
// Parquet, and prompts too long for one teacher's context window.
const seedKeysSpec = `
experiment "seedkeys" {
  languages         = ["de", "yo"]
  examples_per_cell = 10
  seeds             = [1, 2]
}

seeds "native" {
  path = "data/native-*.jsonl"
}

seeds "table" {
  path = "data/table.csv"
}

seeds "columnar" {
  path = "data/columnar.parquet"
}

seeds "english" {
  path     = "data/english.jsonl"
  language = "en"
}

teacher "big" {
  plugin = "echo"
  model  = "m"
}

teacher "small" {
  plugin         = "echo"
  model          = "m"
  context_tokens = 1100
  sampling {
    max_tokens = 1000
  }
}

strategy "respond" {
  share = 1
  input {
    seeds = seeds.native
  }
  step "answer" {
    template = "templates/respond.txt"
  }
  emit {
    prompt   = "seed.prompt"
    response = "steps.answer.text"
  }
}

strategy "generate" {
  share      = 1
  in_context = 3
  step "generate" {
    template = "templates/generate.txt"
  }
  emit {
    prompt   = "steps.generate.text"
    response = "steps.generate.text"
  }
}

strategy "translate" {
  share      = 1
  in_context = 2
  input {
    language = "en"
    tags     = ["math"]
  }
  step "translate" {
    template = "templates/translate.txt"
  }
  emit {
    prompt   = "steps.translate.text"
    response = "steps.translate.text"
  }
}

strategy "crowd" {
  share      = 1
  in_context = 40
  input {
    tags = ["b", "c"]
  }
  step "s" {
    template = "templates/generate.txt"
  }
  emit {
    prompt   = "steps.s.text"
    response = "steps.s.text"
  }
}
`

var seedKeysTemplates = map[string]string{
	"respond.txt":   "Answer in {{language}} ({{language_code}}), seed {{seed.id}} of language {{seed.language}}:\n{{seed.prompt}}\nReference: {{seed.response}}",
	"generate.txt":  "Examples in {{language_native}}:\n{{examples}}\nWrite a task of this family: {{task_family}}.",
	"translate.txt": "Translate to {{language}} ({{script}}), like these:\n{{examples}}\nText ({{seed.id}}): {{seed.prompt}}\n{{seed.response}}",
}

type seedKeysParquetRow struct {
	ID         string   `parquet:"id,optional"`
	Prompt     string   `parquet:"prompt"`
	Response   string   `parquet:"response,optional"`
	Language   string   `parquet:"language"`
	Strategies []string `parquet:"strategies,list"`
	Tags       string   `parquet:"tags,optional"`
}

// writeSeedKeysExperiment writes the experiment and its data into dir.
// The data are a pure function of the row number.
func writeSeedKeysExperiment(t *testing.T, dir string) {
	t.Helper()
	write := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("experiment.hcl", []byte(seedKeysSpec))
	for name, text := range seedKeysTemplates {
		write("templates/"+name, []byte(text))
	}
	langs := []string{"de", "yo", "de-AT", "fr", "yo"}
	tagsOf := func(i int) []string { return [][]string{{"a"}, {"b"}, {"c", "math"}, nil, {"b", "math"}}[i%5] }
	stratsOf := func(i int) []string {
		return [][]string{nil, {"respond"}, {"generate", "crowd"}, {"translate"}, nil, {"crowd"}, {"respond", "generate"}}[i%7]
	}
	prompt := func(i int, lang string) string {
		p := fmt.Sprintf("Frage %d (%s): Thema %d", i, lang, i*7919%1009)
		if i%23 == 0 {
			p += " " + strings.Repeat("lang ", 90) // 100+ tokens: too long for teacher small
		}
		if i%31 == 0 {
			p += " 日本語の質問です"
		}
		return p
	}
	for f := range 2 {
		var b bytes.Buffer
		for i := f * 150; i < f*150+150; i++ {
			if i%17 == 0 {
				b.WriteString("\n")
			}
			rec := map[string]any{"language": langs[i%len(langs)], "prompt": prompt(i, langs[i%len(langs)]), "response": fmt.Sprintf("Antwort %d", i)}
			switch {
			case i%11 == 0: // no id: named file:line
			case i%13 == 0:
				rec["id"] = "dup" // the same id, ordered by prompt
			default:
				rec["id"] = fmt.Sprintf("n-%03d", (i*37)%300)
			}
			if s := stratsOf(i); s != nil {
				rec["strategies"] = s
			}
			if tg := tagsOf(i); tg != nil {
				rec["tags"] = strings.Join(tg, ",")
			}
			line, _ := json.Marshal(rec)
			b.Write(line)
			b.WriteString("\n")
		}
		write(fmt.Sprintf("data/native-%d.jsonl", f), b.Bytes())
	}
	var csv bytes.Buffer
	csv.WriteString("id,prompt,response,language,tags,strategies\n")
	for i := range 120 {
		id := fmt.Sprintf("c%d", i)
		if i%9 == 0 {
			id = ""
		}
		p := prompt(i+1000, langs[i%3])
		if i%5 == 0 {
			p = fmt.Sprintf("\"%s,\nzweite Zeile \"\"zitiert\"\"\"", p)
		}
		fmt.Fprintf(&csv, "%s,%s,Antwort %d,%s,\"%s\",%s\n", id, p, i, langs[i%3], strings.Join(tagsOf(i), ","), strings.Join(stratsOf(i), ";"))
	}
	write("data/table.csv", csv.Bytes())
	var prows []seedKeysParquetRow
	for i := range 130 {
		r := seedKeysParquetRow{Prompt: prompt(i+2000, langs[(i+1)%len(langs)]), Response: fmt.Sprintf("Antwort %d", i), Language: langs[(i+1)%len(langs)], Strategies: stratsOf(i + 3), Tags: strings.Join(tagsOf(i+1), ";")}
		if i%7 != 0 {
			r.ID = fmt.Sprintf("p%d", i%100)
		}
		prows = append(prows, r)
	}
	var pq bytes.Buffer
	if err := parquet.Write(&pq, prows, parquet.PageBufferSize(512), parquet.MaxRowsPerRowGroup(40)); err != nil {
		t.Fatal(err)
	}
	write("data/columnar.parquet", pq.Bytes())
	var en bytes.Buffer
	for i := range 60 {
		rec := map[string]any{"id": fmt.Sprintf("en-%d", i), "prompt": fmt.Sprintf("Question %d: what is %d + %d?", i, i, i*3), "response": fmt.Sprint(4 * i), "tags": tagsOf(i)}
		line, _ := json.Marshal(rec)
		en.Write(line)
		en.WriteString("\n")
	}
	write("data/english.jsonl", en.Bytes())
}

// TestRequestKeysAndPromptsAreStable pins, for every unit of an experiment
// whose seeds span the three formats, each request's store key and ID and
// a digest of the first step's messages. testdata/seedkeys.golden was
// written by the code that held every seed row in memory (before seeds
// were indexed and read by offset); resume and the response cache depend
// on these bytes, so they must never change.
func TestRequestKeysAndPromptsAreStable(t *testing.T) {
	dir := t.TempDir()
	writeSeedKeysExperiment(t, dir)
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
	var out bytes.Buffer
	for _, teacher := range []string{"big", "small"} {
		for _, lang := range []string{"de", "yo"} {
			for _, stName := range []string{"respond", "generate", "translate", "crowd"} {
				for _, seed := range []int64{1, 2} {
					u := &plan.Unit{Key: fmt.Sprintf("generate/%s/%s/%s/%d", teacher, lang, stName, seed), Stage: plan.Generate,
						Teacher: teacher, Language: lang, Strategy: stName, Seed: seed, N: 70}
					sp := exp.Strategy(stName)
					in, err := g.unitInput(u, sp)
					if err != nil {
						fmt.Fprintf(&out, "%s: %v\n", u.Key, err)
						continue
					}
					fmt.Fprintf(&out, "%s: %d requests, %d seeds skipped\n", u.Key, in.reqs.Len(), in.skipped)
					for i := range in.reqs.Len() {
						req, err := in.reqs.Request(i)
						if err != nil {
							t.Fatalf("%s request %d: %v", u.Key, i, err)
						}
						call, err := strategy.BuildCall(sp.Steps[0], &req, nil, in.lang)
						if err != nil {
							t.Fatalf("%s request %d: %v", u.Key, i, err)
						}
						msgs, _ := json.Marshal(call.Messages)
						sum := sha256.Sum256(msgs)
						fmt.Fprintf(&out, "%s %s seed=%s %s\n", requestKey(u.Key, req.ID), req.ID, req.Seed.ID, hex.EncodeToString(sum[:8]))
					}
				}
			}
		}
	}
	golden := filepath.Join("testdata", "seedkeys.golden")
	if *updateSeedKeys {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, out.Bytes()) {
		gl, wl := strings.Split(out.String(), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("line %d differs from %s:\n got %s\nwant %s", i+1, golden, gl[i], wl[i])
			}
		}
		t.Fatalf("%d lines, %s has %d", len(gl), golden, len(wl))
	}
}
