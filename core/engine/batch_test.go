package engine

import (
	"regexp"
	"slices"
	"testing"
)

// cutSizes feeds call sizes to a chunker the way runBatchUnit does and
// returns the chunk lengths.
func cutSizes(c chunker, sizes []int) []int {
	var out []int
	for _, s := range sizes {
		if !c.fits(s) {
			out = append(out, c.n)
			c.reset()
		}
		c.add(s)
	}
	if c.n > 0 {
		out = append(out, c.n)
	}
	return out
}

func TestChunkerCutsByCountAndBytes(t *testing.T) {
	for _, tc := range []struct {
		name             string
		maxReq, maxBytes int
		sizes            []int
		want             []int
	}{
		{"count only", 3, 1 << 20, []int{1, 1, 1, 1, 1, 1, 1, 1, 1}, []int{3, 3, 3}},
		{"count with a remainder", 4, 1 << 20, []int{1, 1, 1, 1, 1, 1}, []int{4, 2}},
		{"bytes before count", 10, 100, []int{40, 40, 40, 40, 40}, []int{2, 2, 1}},
		{"exactly the byte cap fits", 10, 100, []int{50, 50, 50}, []int{2, 1}},
		{"an oversized call still goes, alone", 10, 100, []int{10, 500, 10}, []int{1, 1, 1}},
		{"one call", 3, 100, []int{5}, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cutSizes(chunker{maxReq: tc.maxReq, maxBytes: tc.maxBytes}, tc.sizes); !slices.Equal(got, tc.want) {
				t.Errorf("chunks %v, want %v", got, tc.want)
			}
		})
	}
}

func TestToRanges(t *testing.T) {
	for _, tc := range []struct {
		idx  []int
		want []idxRange
	}{
		{nil, nil},
		{[]int{0, 1, 2}, []idxRange{{0, 3}}},
		{[]int{0, 2, 3, 7}, []idxRange{{0, 1}, {2, 4}, {7, 8}}},
	} {
		if got := toRanges(tc.idx); !slices.Equal(got, tc.want) {
			t.Errorf("toRanges(%v) = %v, want %v", tc.idx, got, tc.want)
		}
	}
}

func TestBatchCallIDFitsProviderLimits(t *testing.T) {
	for _, tc := range []struct {
		index, step, ask int
		want             string
	}{
		{0, 0, 0, "r0"},
		{12345, 0, 0, "r12345"},
		{7, 0, 2, "r7-a2"}, // the single-step format: batches submitted before multi-step resume
		{7, 1, 0, "r7-s1"},
		{49999, 3, 12, "r49999-s3-a12"},
	} {
		got := batchCallID(tc.index, tc.step, tc.ask)
		if got != tc.want {
			t.Errorf("batchCallID(%d, %d, %d) = %q, want %q", tc.index, tc.step, tc.ask, got, tc.want)
		}
		if !customID.MatchString(got) {
			t.Errorf("batchCallID(%d, %d, %d) = %q is not a valid custom_id", tc.index, tc.step, tc.ask, got)
		}
	}
}

// customID is Anthropic's rule for a batch request's custom_id (OpenAI's
// is looser).
var customID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
