package langid

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/fasttext"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid/internal/mocorpus"
)

func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("POLYGLOT_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg + " (POLYGLOT_REQUIRE_TOOLS=1)")
	}
	t.Skip(msg)
}

func requireTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, fmt.Sprintf("%s not found (%s)", name, install))
	}
	return p
}

var (
	lidOnce  sync.Once
	lidPath  string
	lidErr   error
	lidModel *fasttext.Model
)

// testModel returns the committed lid.176.ftz (its absolute path) and the
// built-in copy loaded; both must be there, so it never skips.
func testModel(t testing.TB) (string, *fasttext.Model) {
	t.Helper()
	lidOnce.Do(func() {
		if lidPath, lidErr = filepath.Abs(filepath.Join("model", ModelFileName)); lidErr == nil {
			lidModel, lidErr = DefaultModel()
		}
	})
	if lidErr != nil {
		t.Fatal(lidErr)
	}
	return lidPath, lidModel
}

var (
	corpusOnce sync.Once
	corpus     map[string][]string
	corpusErr  error
)

// testCorpus returns the gettext messages installed on this machine, by language.
func testCorpus(t testing.TB) map[string][]string {
	t.Helper()
	corpusOnce.Do(func() { corpus, corpusErr = mocorpus.Collect(mocorpus.DefaultRoot, 1) })
	if corpusErr != nil {
		skipOrFail(t, "no offline multilingual text: "+corpusErr.Error())
	}
	return corpus
}
