package duplicates

import (
	"crypto/sha256"
	"math"
)

// minHasher computes exact hashes and MinHash signatures of texts.
type minHasher struct {
	shingle, k int
	seed       uint64
	// probe[i] lists the bins an empty bin i copies from, in order (optimal
	// densification); fixed per hasher so all texts densify alike.
	probe [][]uint16
}

// scratch is per-goroutine reusable memory.
type scratch struct {
	runes  []rune
	filled []bool
}

func newMinHasher(shingle, k int, seed uint64) *minHasher {
	h := &minHasher{shingle: shingle, k: k, seed: seed}
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

// text normalises s and fills sig (len k) with its signature.
func (h *minHasher) text(s string, sig []uint32, sc *scratch) text {
	n := Normalize(s)
	t := text{sig: sig}
	if n == "" {
		t.empty = true
		return t
	}
	sum := sha256.Sum256([]byte(n))
	t.exact = [16]byte(sum[:16])

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
func (h *minHasher) densify(sig []uint32, filled []bool) {
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
