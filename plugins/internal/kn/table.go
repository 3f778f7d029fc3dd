package kn

import "math"

// table holds the counts of one order. The map stores an index into a dense
// slice rather than the count itself, so that bumping an n-gram that already
// exists (the common case in training) costs one hash lookup instead of the
// two a map read-modify-write needs.
type table struct {
	idx map[key]uint32
	cnt []uint32
}

func newTable(hint int) *table { return &table{idx: make(map[key]uint32, hint)} }

func (t *table) len() int { return len(t.cnt) }

func (t *table) get(k key) uint32 {
	if i, ok := t.idx[k]; ok {
		return t.cnt[i]
	}
	return 0
}

// add adds c to k's count and returns the previous count.
func (t *table) add(k key, c uint32) (old uint32) {
	if i, ok := t.idx[k]; ok {
		old = t.cnt[i]
		if sum := old + c; sum >= old {
			t.cnt[i] = sum
		} else {
			t.cnt[i] = math.MaxUint32 // saturate rather than wrap
		}
		return old
	}
	t.idx[k] = uint32(len(t.cnt))
	t.cnt = append(t.cnt, c)
	return 0
}

// all yields every n-gram with its count, in no particular order.
func (t *table) all(yield func(key, uint32) bool) {
	for k, i := range t.idx {
		if !yield(k, t.cnt[i]) {
			return
		}
	}
}

func (t *table) clone() *table {
	c := &table{idx: make(map[key]uint32, len(t.idx)), cnt: append([]uint32(nil), t.cnt...)}
	for k, i := range t.idx {
		c.idx[k] = i
	}
	return c
}
