package minhash

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func words(r *rand.Rand, n int) string {
	vocab := strings.Fields("river stone light house field market winter bread letter garden window silver road cloud")
	w := make([]string, n)
	for i := range w {
		w[i] = vocab[r.IntN(len(vocab))] + fmt.Sprint(r.IntN(50))
	}
	return strings.Join(w, " ")
}

// TestIndexFindsNearCopies: an exact copy (up to case and spacing) is
// exact, a copy with one word changed is near, unrelated texts are not.
func TestIndexFindsNearCopies(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	h := NewHasher(5, DefaultNumHashes, 0)
	x := NewIndex(DefaultNumHashes, DefaultBands, 256)
	var sc Scratch
	var texts []string
	for i := range 500 {
		s := words(r, 60)
		texts = append(texts, s)
		x.Insert(int32(i), h.Sign(s, make([]uint32, DefaultNumHashes), &sc))
	}
	if x.Len() != 500 {
		t.Fatalf("Len = %d", x.Len())
	}
	sig := make([]uint32, DefaultNumHashes)
	if id, j, exact, ok := x.Best(h.Sign("  "+strings.ToUpper(texts[7]), sig, &sc), 0.8); !ok || !exact || id != 7 || j != 1 {
		t.Errorf("exact copy: id %d j %v exact %v ok %v", id, j, exact, ok)
	}
	w := strings.Fields(texts[42])
	w[30] = "changed"
	if id, j, exact, ok := x.Best(h.Sign(strings.Join(w, " "), sig, &sc), 0.8); !ok || exact || id != 42 || j < 0.8 {
		t.Errorf("near copy: id %d j %v exact %v ok %v", id, j, exact, ok)
	}
	misses := 0
	for range 200 {
		if _, _, _, ok := x.Best(h.Sign(words(r, 60), sig, &sc), 0.8); ok {
			misses++
		}
	}
	if misses > 0 {
		t.Errorf("%d of 200 unrelated texts matched", misses)
	}
	if got := h.Sign(" \t\n", sig, &sc); !got.Empty {
		t.Error("a blank text is not empty")
	}
}
