package length

import (
	"testing"

	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

// TestCellProfile profiles the component on a real cell:
//
//	POLYGLOT_BENCH_CELL=/path/cell-de-100000.jsonl go test ./plugins/metrics/length -run TestCellProfile -v
func TestCellProfile(t *testing.T) { sdktest.ProfileCell(t, New(), nil) }
