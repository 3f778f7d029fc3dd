package length

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The reference counts in testdata/tiktoken-reference.json come from
// tiktoken itself: the npm package tiktoken (version below; the Rust core
// of OpenAI's tiktoken compiled to WASM) run by testdata/tiktoken-reference.js
// on referenceCorpus. TestTiktokenReference compares the Counter with the
// committed file, offline; TestTiktokenReferenceCurrent regenerates it with
// node and npm (CI has both) and fails when it differs. Rewrite it with
//
//	go test ./plugins/metrics/length -run TestTiktokenReferenceCurrent -update
const (
	tiktokenPackage = "tiktoken@1.0.22"
	referenceFile   = "testdata/tiktoken-reference.json"
)

var update = flag.Bool("update", false, "rewrite testdata/tiktoken-reference.json with tiktoken's counts")

type refCase struct {
	Text   string         `json:"text"`
	Counts map[string]int `json:"counts"`
}

// referenceCorpus is tricky whitespace and Unicode in every quickstart
// language, plus every quickstart seed prompt and response (human text with
// line breaks, quotes, numbers and scripts as they come).
func referenceCorpus(t testing.TB) []string {
	ws := []string{" ", "  ", "\t", "\n", "\r\n", "\n\n", "\n \n", "\n  \n", " \n \n ", "\n\t\n", "\r\n \r\n", "\n \n\n \n", "\n \n ", " \n", "\n ", "   \n\n\n   "}
	words := map[string][2]string{
		"en": {"Hello", "World"}, "ar": {"مرحبا", "بالعالم"}, "cs": {"Příliš", "žluťoučký"}, "de": {"Grüße", "Straße"},
		"es": {"¿Qué", "tal?"}, "id": {"Selamat", "pagi"}, "ja": {"こんにちは", "世界"}, "sw": {"Habari", "gani"}, "tl": {"Kumusta", "ka"},
	}
	var out []string
	for _, l := range []string{"en", "ar", "cs", "de", "es", "id", "ja", "sw", "tl"} {
		w := words[l]
		for _, s := range ws {
			out = append(out, w[0]+s+w[1], w[0]+"."+s+w[1], w[0]+s, s+w[1], "12"+s+w[1], w[0]+"!"+s+"3")
		}
	}
	out = append(out, "e\u0301\n \nx", "\u3000\n \n", "a\u00a0\n \nb", "<|endoftext|>\n \n", "'s\n \n's", "Hello\n \nWorld")
	seeds, err := filepath.Glob(filepath.Join("..", "..", "..", "examples", "quickstart", "data", "seeds", "*.jsonl"))
	if err != nil || len(seeds) == 0 {
		t.Fatalf("no quickstart seeds: %v", err)
	}
	for _, p := range seeds {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var row struct{ Prompt, Response string }
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, row.Prompt, row.Response)
		}
		f.Close()
	}
	return out
}

func TestTiktokenReference(t *testing.T) {
	data, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatal(err)
	}
	var ref []refCase
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if corpus := referenceCorpus(t); len(corpus) != len(ref) {
		t.Fatalf("%s has %d cases, the corpus %d: regenerate it (see TestTiktokenReferenceCurrent)", referenceFile, len(ref), len(corpus))
	}
	c, err := NewCounter()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int, len(c.Encodings()))
	bad := 0
	for _, rc := range ref {
		if err := c.Tokens(rc.Text, got); err != nil {
			t.Fatal(err)
		}
		for i, enc := range c.Encodings() {
			if got[i] != rc.Counts[enc] {
				bad++
				if bad <= 10 {
					t.Errorf("%s: %q gives %d tokens, tiktoken %d", enc, rc.Text, got[i], rc.Counts[enc])
				}
			}
		}
	}
	t.Logf("%d texts x %d encodings against tiktoken, %d differ", len(ref), len(c.Encodings()), bad)
}

func TestTiktokenReferenceCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("installs tiktoken with npm")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s not found (install Node.js and npm)", tool)
			if os.Getenv("POLYGLOT_REQUIRE_TOOLS") == "1" {
				t.Fatal(msg + " (POLYGLOT_REQUIRE_TOOLS=1)")
			}
			t.Skip(msg)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", dir, tiktokenPackage)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", tiktokenPackage, err, out)
	}
	corpus := referenceCorpus(t)
	in, _ := json.Marshal(corpus)
	script, _ := filepath.Abs("testdata/tiktoken-reference.js")
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node tiktoken-reference.js: %v\n%s", err, stderr.String())
	}
	var counts []map[string]int
	if err := json.Unmarshal(out, &counts); err != nil || len(counts) != len(corpus) {
		t.Fatalf("tiktoken gave %d counts for %d texts: %v", len(counts), len(corpus), err)
	}
	ref := make([]refCase, len(corpus))
	for i := range corpus {
		ref[i] = refCase{Text: corpus[i], Counts: counts[i]}
	}
	want, err := json.MarshalIndent(ref, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile(referenceFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatalf("%s is not what %s gives today; regenerate: go test ./plugins/metrics/length -run TestTiktokenReferenceCurrent -update", referenceFile, tiktokenPackage)
	}
}
