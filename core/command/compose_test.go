package command_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type composedRow struct {
	Messages []struct{ Role, Content string }
	ID       string
	Language string
	Split    string
	Teacher  string
}

func readComposed(t *testing.T, dir string) []composedRow {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "data", "*", "*.jsonl"))
	var rows []composedRow
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r composedRow
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			rows = append(rows, r)
		}
		f.Close()
	}
	return rows
}

// checkComposeBest composes the quickstart's dataset "sft" (rule best) from
// a finished quickstart store: the human data wins every language and no
// control's row appears.
func checkComposeBest(t *testing.T, store string) {
	t.Helper()
	qs := filepath.Join(repoRoot, "examples/quickstart")
	r := polyglot(t, repoRoot, "plan", "--compose", "sft", "-var", "store="+store, qs)
	if r.code != 0 || !strings.Contains(r.stdout, "human") {
		t.Fatalf("plan --compose sft: %s%s", r.stdout, r.stderr)
	}
	out := filepath.Join(t.TempDir(), "sft")
	r = polyglot(t, repoRoot, "export", "--compose", "sft", "--out", out, "-var", "store="+store, qs)
	if r.code != 0 {
		t.Fatalf("export --compose sft: %s", r.stderr)
	}
	var sum struct {
		Languages []struct {
			Language string
			Kept     int
			Picks    []struct{ Teacher string }
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Languages) != 8 {
		t.Fatalf("composed %d languages, want 8", len(sum.Languages))
	}
	for _, l := range sum.Languages {
		if len(l.Picks) != 1 || l.Picks[0].Teacher != "human" || l.Kept == 0 {
			t.Errorf("%s: picks %+v, %d rows; want the human data", l.Language, l.Picks, l.Kept)
		}
	}
	for _, row := range readComposed(t, out) {
		if row.Teacher != "human" {
			t.Errorf("row %s of %s is by %s, not the human data", row.ID, row.Language, row.Teacher)
		}
	}
}

// TestComposePlanted runs the quickstart with a second replayed teacher
// whose data holds near copies of human rows and quotes the multiple-choice
// items, and composes both teachers together: each planted near copy
// appears once, every row quoting a planted item is dropped and reported
// with that item, and no control appears.
func TestComposePlanted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quickstart pipeline")
	}
	dir := filepath.Join(t.TempDir(), "qs")
	if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot, "examples/quickstart"), dir).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v %s", err, out)
	}
	os.RemoveAll(filepath.Join(dir, ".polyglot"))
	langs := []string{"ar", "cs", "de", "es", "id", "ja", "sw", "tl"}
	type seed struct{ ID, Prompt, Response string }
	type item struct {
		ID       string
		Question string
		Choices  []string
	}
	nearPrompts := map[string]string{} // prompt → language
	planted := map[string]string{}     // "LANG.jsonl#ID" → question
	if err := os.MkdirAll(filepath.Join(dir, "data", "planted"), 0o755); err != nil {
		t.Fatal(err)
	}
	readLines := func(p string, fn func([]byte)) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			fn([]byte(line))
		}
	}
	for _, l := range langs {
		var seeds []seed
		readLines(filepath.Join(dir, "data", "seeds", l+".jsonl"), func(b []byte) {
			var s seed
			json.Unmarshal(b, &s)
			seeds = append(seeds, s)
		})
		var items []item
		readLines(filepath.Join(dir, "data", "mc", l+".jsonl"), func(b []byte) {
			var it item
			json.Unmarshal(b, &it)
			items = append(items, it)
		})
		var lines []string
		add := func(v map[string]string) {
			b, _ := json.Marshal(v)
			lines = append(lines, string(b))
		}
		for i, s := range seeds[:3] {
			// A near copy: the same prompt, the response with its end changed.
			add(map[string]string{"id": fmt.Sprintf("%s-near-%d", l, i), "language": l, "prompt": s.Prompt, "response": strings.TrimRight(s.Response, ".。") + " !!"})
			nearPrompts[s.Prompt] = l
		}
		for i, it := range items[:2] {
			s := seeds[10+i]
			add(map[string]string{"id": fmt.Sprintf("%s-mc-%d", l, i), "language": l, "prompt": s.Prompt,
				"response": s.Response + "\n\n" + it.Question + "\n" + strings.Join(it.Choices, "\n")})
			planted[l+".jsonl#"+it.ID] = it.Question
		}
		if err := os.WriteFile(filepath.Join(dir, "data", "planted", l+".jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := `teacher "human_b" {
  plugin = "dataset"
  model  = "planted"
  family = "planted"
  config {
    path = "data/planted/*.jsonl"
  }
}

dataset "mixed" {
  rule     = "table"
  table    = { "*" = { human = 1, human_b = 1 } }
  held_out = 0.2
  decontaminate {
    files = ["data/mc/{lang}.jsonl"]
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "planted.hcl"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(t.TempDir(), "store")
	if r := polyglot(t, dir, "run", "-var", "store="+store, dir); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	out := filepath.Join(t.TempDir(), "mixed")
	if r := polyglot(t, dir, "export", "--compose", "mixed", "--out", out, "-var", "store="+store, dir); r.code != 0 {
		t.Fatalf("export --compose mixed: %s", r.stderr)
	}
	rows := readComposed(t, out)
	perPrompt := map[string]int{}
	teachers := map[string]int{}
	for _, r := range rows {
		teachers[r.Teacher]++
		if _, ok := nearPrompts[r.Messages[0].Content]; ok {
			perPrompt[r.Messages[0].Content]++
		}
		for key, q := range planted {
			if strings.Contains(r.Messages[len(r.Messages)-1].Content, q) {
				t.Errorf("row %s (%s) still quotes the planted item %s", r.ID, r.Teacher, key)
			}
		}
	}
	if len(teachers) != 2 || teachers["human"] == 0 || teachers["human_b"] == 0 {
		t.Errorf("rows per teacher %v: want the human data and human_b only", teachers)
	}
	for p, l := range nearPrompts {
		if perPrompt[p] != 1 {
			t.Errorf("%s: the planted near copy's prompt appears %d times, want once: %q", l, perPrompt[p], p)
		}
	}
	f, err := os.Open(filepath.Join(out, "dropped.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	hit, near := map[string]bool{}, 0
	for _, rec := range recs[1:] {
		switch rec[4] {
		case "contaminated":
			hit[rec[5]] = true
		case "near_duplicate":
			near++
		}
	}
	for key := range planted {
		if !hit[key] {
			t.Errorf("planted item %s is not reported in dropped.csv", key)
		}
	}
	if near < len(nearPrompts) {
		t.Errorf("%d near duplicates dropped, want at least the %d planted", near, len(nearPrompts))
	}
	card, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"wrong-prompts", "scrambled", "truncated", "wrong-language", "near-copies"} {
		if strings.Contains(string(card), "| "+c+" |") {
			t.Errorf("the card lists the control %s", c)
		}
	}
}
