package command_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/polyglot-teachers/polyglot/internal/ollamatest"
)

// TestOllamaTeacherAndEmbedder runs an experiment against a real Ollama
// that the test starts itself, serving a tiny random-weight model: the
// openai teacher generates every example through Ollama's chat
// completions, and the diversity metric embeds them through its
// /v1/embeddings. The data is gibberish; the run must still complete with
// every example and a diversity value computed from Ollama's vectors.
func TestOllamaTeacherAndEmbedder(t *testing.T) {
	tools := ollamatest.Find(t)
	srv := ollamatest.Serve(t, tools, ollamatest.Models(t, tools))
	const examples = 8
	store := t.TempDir()
	spec := filepath.Join(repoRoot, "testdata/specs/ollama")
	args := []string{"--plugin-dir", t.TempDir(), "-var", "store=" + store, "-var", "base_url=" + srv.BaseURL, "-var", "examples=" + strconv.Itoa(examples)}
	r := polyglot(t, repoRoot, append(append([]string{"run"}, args...), spec)...)
	if r.code != 0 {
		t.Fatalf("run exited %d:\n%s%s\nollama log:\n%s", r.code, r.stdout, r.stderr, srv.Tail(40))
	}
	out := t.TempDir()
	if r := polyglot(t, repoRoot, append(append([]string{"export", "--format", "jsonl", "--out", out}, args...), spec)...); r.code != 0 {
		t.Fatalf("export exited %d:\n%s", r.code, r.stderr)
	}
	rows := readJSONL(t, filepath.Join(out, "data.jsonl"))
	if len(rows) != examples {
		t.Fatalf("exported %d examples, want %d", len(rows), examples)
	}
	for i, row := range rows {
		if answer(row) == "" {
			t.Errorf("example %d has no answer: %v", i, row)
		}
	}
	var diversity []map[string]string
	for _, row := range readCSV(t, filepath.Join(out, "metrics.csv")) {
		if row["metric"] == "diversity.response" || row["metric"] == "diversity.prompt" {
			diversity = append(diversity, row)
		}
	}
	if len(diversity) != 2 {
		t.Fatalf("metrics.csv has %d diversity rows, want diversity.prompt and diversity.response", len(diversity))
	}
	for _, row := range diversity {
		v, err := strconv.ParseFloat(row["value"], 64)
		// Ollama's vectors of different texts are not all equal, so the
		// mean pairwise cosine similarity is below 1.
		if err != nil || v <= 0 || v > 2 {
			t.Errorf("%s = %q, want a diversity in (0, 2]", row["metric"], row["value"])
		}
	}
}

// answer is the assistant's message of an exported example.
func answer(row map[string]any) string {
	msgs, _ := row["messages"].([]any)
	for _, m := range msgs {
		if m, _ := m.(map[string]any); m["role"] == "assistant" {
			s, _ := m["content"].(string)
			return s
		}
	}
	return ""
}

func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, m)
	}
	return rows
}
