package diversity

import (
	"context"
	"math"
	"strings"
	"testing"
)

func cos(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

func TestHashEmbedder(t *testing.T) {
	h, err := NewHashEmbedder(HashEmbedderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		a, b   string
		minCos float64 // cos(a, b) >= minCos
		maxCos float64 // cos(a, b) <= maxCos
	}{
		{"NFC: precomposed equals decomposed", "Café crème", "Cafe\u0301 cre\u0300me", 1 - 1e-6, 1},
		{"case-insensitive", "GUTEN MORGEN", "guten morgen", 1 - 1e-6, 1},
		{"punctuation only separates", "hello, world!", "hello world", 1 - 1e-6, 1},
		{"word order is mostly kept", "der Hund beißt den Mann", "den Mann beißt der Hund", 0.95, 1},
		{"one word changed", "the quick brown fox jumps over the lazy dog", "the quick brown fox jumps over the lazy cat", 0.8, 0.99},
		{"different languages", "the quick brown fox jumps over the lazy dog", "速い茶色の狐が怠惰な犬を飛び越える", -0.2, 0.2},
		{"different topics", "Calculate the derivative of x squared", "Write a poem about the autumn sea", -0.2, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cos(h.EmbedText(tt.a), h.EmbedText(tt.b))
			if c < tt.minCos || c > tt.maxCos {
				t.Errorf("cos = %v, want in [%v, %v]", c, tt.minCos, tt.maxCos)
			}
		})
	}
}

func TestHashEmbedderVectors(t *testing.T) {
	h, _ := NewHashEmbedder(HashEmbedderOptions{Dim: 64, Workers: 3})
	texts := []string{"", "...", "a", "مرحبا بالعالم", strings.Repeat("long text ", 500)}
	for range 200 { // enough texts to use several workers
		texts = append(texts, "filler text")
	}
	vecs, err := h.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if len(v) != 64 {
			t.Fatalf("text %d: %d dims", i, len(v))
		}
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		want := 1.0
		if i < 2 { // no word characters: zero vector, skipped by the metric
			want = 0
		}
		if math.Abs(ss-want) > 1e-6 {
			t.Errorf("text %d %.20q: squared norm %v, want %v", i, texts[i], ss, want)
		}
	}
	// Deterministic and identical across Embed and EmbedText.
	again := h.EmbedText(texts[3])
	for k := range again {
		if again[k] != vecs[3][k] {
			t.Fatal("EmbedText differs from Embed")
		}
	}
	// Pinned values: a change of hashing would silently change every
	// reported diversity, so it must show up here.
	v := h.EmbedText("a")
	nonzero := 0
	for _, x := range v {
		if x != 0 {
			nonzero++
		}
	}
	// "a" yields 1-grams a; 2-grams ^a, a$; 3-gram ^a$: four features.
	if nonzero < 3 || nonzero > 4 {
		t.Errorf(`"a" has %d non-zero buckets, want 3..4 (4 features)`, nonzero)
	}
	// Different seeds give different (nearly orthogonal) embeddings.
	h2, _ := NewHashEmbedder(HashEmbedderOptions{Dim: 64, Seed: 99})
	if c := cos(h2.EmbedText(texts[4]), vecs[4]); c > 0.6 {
		t.Errorf("seeds 0 and 99 agree too much: cos %v", c)
	}
	if h.Name() == h2.Name() {
		t.Error("names must differ across seeds")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Embed(ctx, texts); err == nil {
		t.Error("Embed with a cancelled context should fail")
	}
}

func TestHashEmbedderOptions(t *testing.T) {
	for _, o := range []HashEmbedderOptions{{Dim: -1}, {MinN: 3, MaxN: 2}, {MaxN: 17}} {
		if _, err := NewHashEmbedder(o); err == nil {
			t.Errorf("%+v should be rejected", o)
		}
	}
	h, err := NewHashEmbedder(HashEmbedderOptions{MinN: 2, MaxN: 3, Dim: 32})
	if err != nil || h.Dim() != 32 {
		t.Fatal(err)
	}
}
