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

// TestMemoBypass: a scorer whose memo rarely hits gives it up and still
// scores exactly like kn.
func TestMemoBypass(t *testing.T) {
	m, _ := kn.New(kn.Options{Order: 4})
	m.Add("abc abd abe")
	for _, tc := range []struct {
		hits, misses uint64
		bypass       bool
	}{
		{0, probeLookups - 1, false},                      // too few lookups to judge
		{probeLookups * 9 / 10, probeLookups / 10, false}, // 90 % hits: keep
		{probeLookups / 2, probeLookups / 2, true},        // 50 % hits: give up
	} {
		ms := newMemoScorer(m)
		ms.hits, ms.misses = tc.hits, tc.misses
		nll, n := ms.score("ab", "cab dab")
		wantNLL, wantN := m.Score("ab", "cab dab")
		if n != wantN || math.Abs(nll-wantNLL) > 1e-9 {
			t.Errorf("%+v: (%g, %d), want (%g, %d)", tc, nll, n, wantNLL, wantN)
		}
		if ms.bypass != tc.bypass || (ms.memo == nil) != tc.bypass {
			t.Errorf("hits %d misses %d: bypass %v (memo dropped %v), want %v", tc.hits, tc.misses, ms.bypass, ms.memo == nil, tc.bypass)
		}
	}
}
