package kn

import (
	"math/rand/v2"
	"testing"
)

// Keys drawn like top-order n-grams of text: Zipf-distributed over 1.5M types.
func benchKeys() []key {
	rng := rand.New(rand.NewPCG(5, 6))
	z := rand.NewZipf(rng, 1.05, 1, 1_500_000)
	ks := make([]key, 2_000_000)
	for i := range ks {
		v := z.Uint64()
		ks[i] = key{hi: v >> 7, lo: v * 0x9E3779B97F4A7C15}
	}
	return ks
}

// BenchmarkCountMap is the baseline: a plain map read-modify-write.
func BenchmarkCountMap(b *testing.B) {
	ks := benchKeys()
	for b.Loop() {
		m := map[key]uint32{}
		for _, k := range ks {
			m[k]++
		}
	}
}

// BenchmarkCountTable is the index-map-plus-slice table the model uses.
func BenchmarkCountTable(b *testing.B) {
	ks := benchKeys()
	for b.Loop() {
		t := newTable(0)
		for _, k := range ks {
			t.add(k, 1)
		}
	}
}
