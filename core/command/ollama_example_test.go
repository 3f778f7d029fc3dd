package command_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/internal/ollamatest"
)

// TestOllamaExampleEndToEnd runs examples/ollama with its one command, as a
// user does, except that the three models are the tests' tiny random-weight
// model (-var models=...) in a models folder of the test's: polyglot starts
// a real Ollama, generates every example through it, measures, trains the
// students, scores, reports, and stops the server.
func TestOllamaExampleEndToEnd(t *testing.T) {
	tools := ollamatest.Find(t)
	models := ollamatest.Models(t, tools)
	// Off: this test counts what Ollama answers. HOME: Ollama writes its key
	// pair there.
	t.Setenv("POLYGLOT_CACHE", "off")
	t.Setenv("HOME", t.TempDir())
	dir := t.TempDir()
	copyTree(t, filepath.Join(repoRoot, "examples", "ollama"), dir)
	tiny := ollamatest.Model
	run := &ollamaServerRun{models: models, store: filepath.Join(dir, ".polyglot")}
	t.Cleanup(func() { run.killLeftovers(t) })
	r := polyglot(t, dir, "run",
		"-var", "data="+filepath.Join(repoRoot, "examples", "quickstart", "data"),
		"-var", "ollama="+tools.Ollama,
		"-var", `ollama_env={OLLAMA_MODELS="`+models+`"}`,
		"-var", `models={gemma3="`+tiny+`", llama31="`+tiny+`", aya="`+tiny+`"}`,
		"-var", "examples_per_cell=3", ".")
	if r.code != 0 {
		t.Fatalf("run exited %d:\n%s\nserver logs:\n%s", r.code, r.stderr, run.serverLog())
	}
	run.noneLeft(t)
	// 3 teachers x 3 languages x 3 strategies x 1 example.
	if got := run.answered(t)["/v1/chat/completions"]; got != 27 {
		t.Errorf("Ollama answered %d chat completions, want 27", got)
	}
	ranking, err := os.ReadFile(filepath.Join(dir, ".polyglot", "report", "ranking.csv"))
	if err != nil {
		t.Fatalf("no ranking in the report: %v\n%s", err, r.stderr)
	}
	// The report ranks the teachers it has enough data for: gibberish JSON
	// answers (an empty field, say) fail some examples, and the ranking
	// leaves out a teacher that misses a whole language.
	rows := strings.Split(strings.TrimSpace(string(ranking)), "\n")
	if len(rows) < 2 || !strings.HasPrefix(rows[0], "rank,teacher,") {
		t.Errorf("ranking.csv ranks no teacher:\n%s", ranking)
	}
}
