package perplexity

import (
	"math"
	"testing"

	"github.com/polyglot-teachers/polyglot/plugins/internal/kn"
)

// TestMemoMatchesKN: the memoised scorer gives kn's Score for every order,
// for prefixes shorter than the context, unknown characters and repeated
// n-grams (answered from the memo), and after the memo is cleared.
func TestMemoMatchesKN(t *testing.T) {
	s := newSynth(5)
	var docs []string
	for range 50 {
		docs = append(docs, s.text(300))
	}
	cases := []struct{ prefix, text string }{
		{"", "der die das"},
		{"a", "ver ge schaft"},
		{"ab\n", "lich keit lich keit lich keit"},
		{s.text(200) + "\n", s.text(400)},
		{"unknown ✓ 日本 ", "✓✓ 日本語 ver ✓"},
		{"\n", "\n\nder\n"},
		{"prefix", ""},
	}
	for order := 1; order <= kn.MaxOrder; order++ {
		m, err := kn.New(kn.Options{Order: order})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			m.Add(d)
		}
		ms := newMemoScorer(m)
		for pass := range 3 {
			if pass == 2 {
				clear(ms.memo)
			}
			for _, c := range cases {
				wantNLL, wantN := m.Score(c.prefix, c.text)
				nll, n := ms.score(c.prefix, c.text)
				if n != wantN || math.Abs(nll-wantNLL) > 1e-9*math.Max(1, wantNLL) {
					t.Errorf("order %d pass %d, %q after %q: memo (%.12g, %d), kn (%.12g, %d)", order, pass, c.text, c.prefix, nll, n, wantNLL, wantN)
				}
			}
		}
		if ms.hits == 0 || ms.misses == 0 {
			t.Errorf("order %d: %d hits, %d misses; the second pass must hit the memo", order, ms.hits, ms.misses)
		}
	}
}
