package perplexity

import (
	"os"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

// TestCellProfile profiles the component on a real cell (POLYGLOT_BENCH_REFERENCE names the reference corpus):
//
//	POLYGLOT_BENCH_CELL=/path/cell-de-100000.jsonl go test ./plugins/metrics/perplexity -run TestCellProfile -v
func TestCellProfile(t *testing.T) {
	sdktest.ProfileCell(t, New(), map[string]cty.Value{"reference": cty.StringVal(os.Getenv("POLYGLOT_BENCH_REFERENCE"))})
}
