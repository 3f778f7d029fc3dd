package engine

import (
	"slices"
	"testing"
)

// TestPerExampleDetail: per-example values are stored with their prompts' pair keys when
// every key is known, as a plain array otherwise, and both forms (and stores written
// before keys existed) read back.
func TestPerExampleDetail(t *testing.T) {
	vals, keys := []float64{1.5, 2, 3}, []string{"a1", "b2", "c3"}
	v, k := parseDetail(perExampleDetail(vals, keys))
	if !slices.Equal(v, vals) || !slices.Equal(k, keys) {
		t.Errorf("with keys: %v %v", v, k)
	}
	v, k = parseDetail(perExampleDetail(vals, []string{"a1", "", "c3"}))
	if !slices.Equal(v, vals) || k != nil {
		t.Errorf("a missing key: %v %v", v, k)
	}
	v, k = parseDetail([]byte(`[4,5]`)) // an older store
	if !slices.Equal(v, []float64{4, 5}) || k != nil {
		t.Errorf("legacy array: %v %v", v, k)
	}
}
