package spec

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// walkSpecs calls fn for every attribute and nested block of every
// top-level block with a blockSpec, with its address.
func walkSpecs(fn func(addr string, a *attrSpec, nb *nestedSpec)) {
	var walk func(addr string, bs *blockSpec)
	walk = func(addr string, bs *blockSpec) {
		for i := range bs.attrs {
			fn(addr+"."+bs.attrs[i].name, &bs.attrs[i], nil)
		}
		for i := range bs.blocks {
			nb := &bs.blocks[i]
			fn(addr+"."+nb.typeName, nil, nb)
			walk(addr+"."+nb.typeName, nb.spec)
		}
	}
	for _, h := range rootSchema.Blocks {
		if rb := topBlocks[h.Type]; rb.spec != nil {
			walk(h.Type, rb.spec)
		}
	}
}

// TestReferenceCoversSchema fails when the loader's schema gains an
// attribute or block the reference does not describe, or loses one it
// still describes.
func TestReferenceCoversSchema(t *testing.T) {
	for _, h := range rootSchema.Blocks {
		rb, ok := topBlocks[h.Type]
		if !ok || rb.doc == "" || rb.count == "" {
			t.Errorf("top-level block %q has no entry in topBlocks (doc and count); describe it in reference.go", h.Type)
		}
		if (len(h.LabelNames) > 0) != (rb.label != "") {
			t.Errorf("block %q: label in topBlocks (%q) disagrees with rootSchema (%v)", h.Type, rb.label, h.LabelNames)
		}
	}
	if len(topBlocks) != len(rootSchema.Blocks) {
		t.Errorf("topBlocks has %d entries, rootSchema %d blocks; remove blocks that no longer exist", len(topBlocks), len(rootSchema.Blocks))
	}

	known := map[string]bool{}
	walkSpecs(func(addr string, a *attrSpec, nb *nestedSpec) {
		known[addr] = true
		if nb != nil {
			if nestedDocs[addr] == "" {
				t.Errorf("nested block %s has no description in nestedDocs", addr)
			}
			return
		}
		d, ok := attrDocs[addr]
		if !ok || d.doc == "" {
			t.Errorf("attribute %s has no description in attrDocs", addr)
		}
		if d.def != "" && (a.required || a.def != cty.NilVal) {
			t.Errorf("attribute %s: attrDocs gives default %q but the schema already has one (required=%v); remove it", addr, d.def, a.required)
		}
	})
	for addr := range attrDocs {
		if !known[addr] {
			t.Errorf("attrDocs describes %s, which the schema does not have", addr)
		}
	}
	for addr := range nestedDocs {
		if !known[addr] {
			t.Errorf("nestedDocs describes %s, which the schema does not have", addr)
		}
	}
	for addr := range nestedLabels {
		if !known[addr] {
			t.Errorf("nestedLabels describes %s, which the schema does not have", addr)
		}
	}

	if len(variableDocs) != len(variableSchema.Attributes) {
		t.Errorf("variableDocs has %d entries, variableSchema %d attributes", len(variableDocs), len(variableSchema.Attributes))
	}
	for _, a := range variableSchema.Attributes {
		if d := variableDocs[a.Name]; d[0] == "" || d[1] == "" {
			t.Errorf("variable attribute %q has no type or description in variableDocs", a.Name)
		}
	}
}

// TestReferenceText checks rows rendered from the schema: types, schema
// defaults, required flags, computed defaults and allowed values.
func TestReferenceText(t *testing.T) {
	ref := Reference()
	for _, want := range []string{
		"## `experiment \"NAME\" { ... }`",
		"| `languages` | list(string) | **required** |",
		"| `examples_per_cell` | number | `10500` |",
		"| `seeds` | list(number) | `[1]` |",
		"| `concurrency` | number | `4` |",
		"| `timeout` | string | `\"120s\"` |",
		"| `adaptive` | bool | `false` |",
		"| `in_score` | bool | `true` |",
		"| `alpha` | number | `0.5` |",
		"| `alphas` | list(number) | `[0, 0.25, 0.5, 0.75, 1]` |",
		"| `hyperparameters` | any | the trainer's defaults |",
		"| `schema` | map(string) | none |",
		"### `teacher` › `limits { ... }`",
		"### `strategy` › `step \"NAME\" { ... }`",
		"How many: at least 1.",
		"### `student` › `executor \"KIND\" { ... }`",
		"Label: one of `\"local\"`, `\"slurm\"`.",
		"one of `\"ratio_then_mean\"`, `\"mean_then_ratio\"`",
		"A plugin-owned `config { ... }` block is allowed",
		"| `sensitive` | bool |",
		"`env`, ",
		"`file`, ",
	} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	for _, h := range rootSchema.Blocks {
		if !strings.Contains(ref, "<a id=\""+h.Type+"\"></a>\n## `"+h.Type) {
			t.Errorf("reference has no section for %q", h.Type)
		}
	}
	// Every table row has the same number of cells as its header.
	for i, line := range strings.Split(ref, "\n") {
		if strings.HasPrefix(line, "| `") {
			if n := strings.Count(strings.ReplaceAll(line, "\\|", ""), "|"); n != 5 && n != 4 {
				t.Errorf("line %d has %d cell separators: %s", i+1, n, line)
			}
		}
	}
	if Reference() != ref {
		t.Error("Reference is not deterministic")
	}
}

var useOneOf = regexp.MustCompile(`Use one of: (.+)\.$`)

// TestReferenceEnumsMatchLoader writes a spec with an invalid value for
// each enum attribute and checks that the loader's error lists exactly the
// values the reference documents.
func TestReferenceEnumsMatchLoader(t *testing.T) {
	base := `experiment "e" { languages = ["de"] }
seeds "s" { path = "s.jsonl" }
`
	step := func(extra string) string {
		return base + `strategy "x" {
  step "a" {
    template = "t.txt"
    ` + extra + `
  }
}
`
	}
	cases := []struct {
		addr string
		hcl  string
	}{
		{"seeds.format", `experiment "e" { languages = ["de"] }
seeds "s" {
  path   = "s.jsonl"
  format = "zzz"
}
`},
		{"control.kind", base + `control "c" {
  kind  = "zzz"
  seeds = "s"
}
`},
		{"strategy.step.output", step(`output = "zzz"`)},
		{"strategy.step.schema", step(`output = "json"
    schema = { prompt = "zzz" }`)},
		{"metric.direction", base + `metric "m" {
  plugin    = "p"
  direction = "zzz"
}
`},
		{"score.pgr", base + `score { pgr = "zzz" }
`},
		{"score.standardize", base + `score { standardize = "zzz" }
`},
		{"score.pca", base + `score { pca = "zzz" }
`},
		{"screening.rule", base + `screening {
  stages = [5]
  rule   = "zzz"
}
`},
		{"screening.scope", base + `screening {
  stages = [5]
  scope  = "zzz"
}
`},
		{"screening.score", base + `screening {
  stages = [5]
  score  = "zzz"
}
`},
		{"student.executor", base + `student "st" {
  base_model = "b"
  trainer    = "t"
  executor "zzz" {}
}
`},
		{"server.engine", base + `server "sv" {
  engine = "zzz"
  model  = "m"
}
`},
		{"server.executor", base + `server "sv" {
  engine = "vllm"
  model  = "m"
  executor "zzz" {}
}
`},
		{"dataset.rule", base + "dataset \"d\" {\n  rule = \"zzz\"\n}\n"},
		{"dataset.langid", base + "dataset \"d\" {\n  langid = \"zzz\"\n}\n"},
		{"dataset.system", base + "dataset \"d\" {\n  system = \"zzz\"\n}\n"},
	}
	tested := map[string]bool{}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			tested[c.addr] = true
			want := attrDocs[c.addr].allowed
			if l, ok := nestedLabels[c.addr]; ok {
				want = l
			}
			if len(want) == 0 {
				t.Fatalf("the reference documents no allowed values for %s", c.addr)
			}
			dir := t.TempDir()
			for name, text := range map[string]string{
				"main.hcl": c.hcl,
				"s.jsonl":  `{"prompt":"p","response":"r","language":"de"}` + "\n",
				"t.txt":    "{{seed.prompt}}\n",
			} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, diags := LoadDir(dir, LoadOptions{Env: func(string) (string, bool) { return "", false }})
			var got []string
			for _, d := range diags {
				if m := useOneOf.FindStringSubmatch(d.Detail); m != nil && strings.Contains(d.Detail, "zzz") {
					got = append(got, m[1])
				}
			}
			if len(got) != 1 {
				t.Fatalf("want one error listing the allowed values, got %d: %v", len(got), diags)
			}
			if got[0] != quoteList(want) {
				t.Errorf("loader allows %s, reference documents %s; update attrDocs in reference.go", got[0], quoteList(want))
			}
		})
	}
	for addr, d := range attrDocs {
		if len(d.allowed) > 0 && !tested[addr] {
			t.Errorf("%s documents allowed values but TestReferenceEnumsMatchLoader has no case for it", addr)
		}
	}
	for addr := range nestedLabels {
		if !tested[addr] {
			t.Errorf("%s documents allowed labels but TestReferenceEnumsMatchLoader has no case for it", addr)
		}
	}
}
