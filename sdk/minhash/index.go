package minhash

import (
	"math"
	"slices"
)

// Index stores signatures with banded LSH buckets and an exact-hash map.
//
// Entries live in fixed-size chunks that are never copied: a cell of 10^5
// texts holds 50 MB of signatures per field, and a slice grown by append
// leaves each outgrown copy behind for the garbage collector, which in a
// plugin process showed up as three times the live size in resident memory.
type Index struct {
	k, bands, rows, maxCand int
	exact                   map[[16]byte]int32
	n                       int // entries
	chunks                  []*lshChunk
	heads                   []bandTable // per band: bucket -> most recent entry
	query                   uint32
}

// bandTable maps a band's values to the most recent entry with those
// values, by open addressing (linear probing) over entry positions: the
// values themselves are read from the entry's signature, so a slot costs 4
// bytes, where a map[uint64]int32 took about 18 (a 10^5-text cell has 16
// bands × 2 fields of 10^5 distinct keys each).
type bandTable struct {
	slots []int32 // entry position + 1; 0 is empty
	used  int
}

const bandTableMin = 1024

// find returns the slot of the band values of sig (the query's band b),
// and the entry there, or −1 when the slot is empty.
func (x *Index) find(b int, sig []uint32, key uint64) (slot int, pos int32) {
	t := &x.heads[b]
	mask := len(t.slots) - 1
	band := sig[b*x.rows : (b+1)*x.rows]
	for i := int(key>>32) & mask; ; i = (i + 1) & mask {
		p := t.slots[i]
		if p == 0 {
			return i, -1
		}
		c, j := x.at(p - 1)
		if slices.Equal(c.sigs[j*x.k+b*x.rows:j*x.k+(b+1)*x.rows], band) {
			return i, p - 1
		}
	}
}

// grow doubles band b's table, re-placing every entry by its key.
func (x *Index) grow(b int) {
	t := &x.heads[b]
	old := t.slots
	t.slots = make([]int32, 2*len(old))
	mask := len(t.slots) - 1
	for _, p := range old {
		if p == 0 {
			continue
		}
		c, j := x.at(p - 1)
		i := int(x.bandKey(c.sigs[j*x.k:(j+1)*x.k], b)>>32) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = p
	}
}

// chunkSize is the number of entries per chunk (512 KiB of signatures at
// the default 128 hashes).
const chunkSize = 1024

// lshChunk holds chunkSize entries.
type lshChunk struct {
	ids   []int32  // document id of each entry
	sigs  []uint32 // signatures, row-major
	next  []int32  // per entry and band: the next position in the bucket chain, −1 ends
	stamp []uint32 // per entry: last query that saw it
}

// NewIndex returns an empty index of numHashes-bin signatures in bands
// (which must divide numHashes); a query examines at most maxCandidates
// LSH candidates (most recent first), so that a set full of near-copies
// stays linear; beyond the bound a better match may be missed.
func NewIndex(numHashes, bands, maxCandidates int) *Index {
	x := &Index{k: numHashes, bands: bands, rows: numHashes / bands, maxCand: maxCandidates, exact: map[[16]byte]int32{}}
	x.heads = make([]bandTable, x.bands)
	for b := range x.heads {
		x.heads[b].slots = make([]int32, bandTableMin)
	}
	return x
}

func (x *Index) at(pos int32) (*lshChunk, int) {
	return x.chunks[pos/chunkSize], int(pos % chunkSize)
}

func (x *Index) bandKey(sig []uint32, b int) uint64 {
	h := uint64(b) * 0x9e3779b97f4a7c15
	for _, v := range sig[b*x.rows : (b+1)*x.rows] {
		h = mix64(h ^ uint64(v))
	}
	return h
}

// Insert adds text t under id.
func (x *Index) Insert(id int32, t Text) {
	if t.Empty {
		return
	}
	if _, ok := x.exact[t.Exact]; !ok {
		x.exact[t.Exact] = id
	}
	pos := int32(x.n)
	if x.n%chunkSize == 0 {
		x.chunks = append(x.chunks, &lshChunk{
			ids:   make([]int32, 0, chunkSize),
			sigs:  make([]uint32, 0, chunkSize*x.k),
			next:  make([]int32, 0, chunkSize*x.bands),
			stamp: make([]uint32, chunkSize),
		})
	}
	x.n++
	c := x.chunks[len(x.chunks)-1]
	c.ids = append(c.ids, id)
	c.sigs = append(c.sigs, t.Sig...)
	for b := range x.bands {
		slot, head := x.find(b, t.Sig, x.bandKey(t.Sig, b))
		c.next = append(c.next, head) // −1 when the bucket is new
		tb := &x.heads[b]
		tb.slots[slot] = pos + 1
		if head < 0 {
			if tb.used++; 2*tb.used > len(tb.slots) {
				x.grow(b)
			}
		}
	}
}

// Len is the number of texts inserted.
func (x *Index) Len() int { return x.n }

// Best returns the id with the highest estimated Jaccard ≥ threshold among
// the exact match (preferred) and the LSH candidates.
func (x *Index) Best(t Text, threshold float64) (id int32, jaccard float64, exact, ok bool) {
	if j, hit := x.exact[t.Exact]; hit {
		return j, 1, true, true
	}
	x.query++
	// need is the number of equal positions a candidate must reach to
	// matter: the threshold, then the best so far (ties are kept for the
	// earlier-id rule). Comparisons stop as soon as it is out of reach,
	// which makes dissimilar candidates cheap.
	need := int(math.Ceil(threshold*float64(x.k) - 1e-9))
	bestID, bestEq, seen := int32(-1), -1, 0
	for b := 0; b < x.bands && seen < x.maxCand; b++ {
		_, pos := x.find(b, t.Sig, x.bandKey(t.Sig, b))
		for pos >= 0 && seen < x.maxCand {
			c, i := x.at(pos)
			pos = c.next[i*x.bands+b]
			if c.stamp[i] == x.query {
				continue
			}
			c.stamp[i] = x.query
			seen++
			eq, ok := equalAtLeast(t.Sig, c.sigs[i*x.k:(i+1)*x.k], max(need, bestEq))
			if !ok {
				continue
			}
			// Ties go to the earlier example, so results do not depend on
			// the order candidates are visited.
			if id := c.ids[i]; eq > bestEq || id < bestID {
				bestID, bestEq = id, eq
			}
		}
	}
	if bestID < 0 {
		return -1, 0, false, false
	}
	return bestID, float64(bestEq) / float64(x.k), false, true
}

// equalAtLeast counts equal positions of a and b, giving up (ok = false) as
// soon as fewer than need can be reached.
func equalAtLeast(a, b []uint32, need int) (eq int, ok bool) {
	allowed := len(a) - need // mismatches that still leave need reachable
	if allowed < 0 {
		return 0, false
	}
	miss := 0
	b = b[:len(a)]
	for i, v := range a {
		if v != b[i] {
			miss++
			if miss > allowed {
				return 0, false
			}
		}
	}
	return len(a) - miss, true
}

// Defaults of the signature and banding: 16 bands of 8 rows put the LSH
// 50 % point near Jaccard 0.7, below the usual threshold 0.8.
const (
	DefaultNumHashes = 128
	DefaultBands     = 16
)
