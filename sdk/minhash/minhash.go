// Package minhash finds exact and near-duplicate texts: a normal form
// (NFKC, lower case, collapsed whitespace), a 128-bit hash of it for exact
// matches, MinHash signatures of its character shingles by one-permutation
// hashing with optimal densification (Shrivastava, ICML 2017), and a banded
// LSH index. It lives in the SDK so that the duplicates metric plugin and
// the core's dataset composer (which may import only the SDK's packages
// from a plugin's side) share one implementation; written by hand because
// no maintained Go library implements densified one-permutation MinHash.
package minhash

import (
	"crypto/sha256"
	"math"
)

// Hasher computes exact hashes and MinHash signatures of texts; it is
// safe for concurrent use (each goroutine brings its own Scratch).
type Hasher struct {
	shingle, k int
	seed       uint64
	// probe[i] lists the bins an empty bin i copies from, in order (optimal
	// densification); fixed per hasher so all texts densify alike.
	probe [][]uint16
}

// Scratch is per-goroutine reusable memory for Hasher.Sign.
type Scratch struct {
	runes  []rune
	filled []bool
}

// NewHasher returns a Hasher of k-bin signatures over shingles of the given
// number of characters; seed varies the shingle hash.
func NewHasher(shingle, k int, seed uint64) *Hasher {
	h := &Hasher{shingle: shingle, k: k, seed: seed}
	// Each empty bin walks a fixed pseudo-random sequence of bins until it
	// meets a filled one. min(8·k, 1024) probes make a miss vanishingly unlikely unless
	// almost all bins are empty; bins still empty after that fall back to a
	// linear scan in densify.
	h.probe = make([][]uint16, k)
	for i := range h.probe {
		steps := min(8*k, 1024)
		seq := make([]uint16, 0, steps)
		x := mix64(seed ^ uint64(i)*0xd1b54a32d192ed03)
		for a := range steps {
			x = mix64(x + uint64(a))
			seq = append(seq, uint16((x>>32)*uint64(k)>>32))
		}
		h.probe[i] = seq
	}
	return h
}

// Text is one normalised text's hashes.
type Text struct {
	Empty bool     // nothing left after normalisation; never matches
	Exact [16]byte // hash of the normal form
	Sig   []uint32 // MinHash signature
}

// Sign normalises s and fills sig (len k) with its signature.
func (h *Hasher) Sign(s string, sig []uint32, sc *Scratch) Text {
	return h.SignNormal(Normalize(s), sig, sc)
}

// SignNormal is Sign for a text already in normal form.
func (h *Hasher) SignNormal(n string, sig []uint32, sc *Scratch) Text {
	t := Text{Sig: sig}
	if n == "" {
		t.Empty = true
		return t
	}
	sum := sha256.Sum256([]byte(n))
	t.Exact = [16]byte(sum[:16])

	sc.runes = sc.runes[:0]
	for _, r := range n {
		sc.runes = append(sc.runes, r)
	}
	if cap(sc.filled) < h.k {
		sc.filled = make([]bool, h.k)
	}
	filled := sc.filled[:h.k]
	clear(filled)
	for i := range sig {
		sig[i] = math.MaxUint32
	}
	rs := sc.runes
	w := min(h.shingle, len(rs)) // texts shorter than a shingle are one shingle
	k := uint64(h.k)
	for i := 0; i+w <= len(rs); i++ {
		f := uint64(14695981039346656037) ^ h.seed
		for _, r := range rs[i : i+w] {
			f = (f ^ uint64(r)) * 1099511628211
		}
		x := mix64(f)
		bin := (x >> 32) * k >> 32
		if v := uint32(x); v < sig[bin] || !filled[bin] {
			sig[bin] = v
			filled[bin] = true
		}
	}
	h.densify(sig, filled)
	return t
}

// densify fills empty bins from filled ones (optimal densification).
func (h *Hasher) densify(sig []uint32, filled []bool) {
	for i := range sig {
		if filled[i] {
			continue
		}
		done := false
		for _, j := range h.probe[i] {
			if filled[j] {
				sig[i] = sig[j]
				done = true
				break
			}
		}
		if !done { // deterministic fallback: the next filled bin cyclically
			for d := 1; d < len(sig); d++ {
				if j := (i + d) % len(sig); filled[j] {
					sig[i] = sig[j]
					break
				}
			}
		}
	}
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
