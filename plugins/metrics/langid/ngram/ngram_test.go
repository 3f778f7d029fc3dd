package ngram

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

var corpus = map[string][]string{
	"de": {"Der Hund läuft schnell über die Straße und bellt laut.", "Die Kinder spielen im Garten mit dem Ball."},
	"sw": {"Watoto wanacheza mpira katika bustani ya shule.", "Mbwa anakimbia haraka barabarani na kubweka sana."},
	"ja": {"子どもたちは学校の庭でボールで遊んでいます。", "犬は道を速く走って大きな声でほえます。"},
}

func best(p *Profile, text string) string {
	s, _ := p.Scores(text)
	i := 0
	for j := range s {
		if s[j] > s[i] {
			i = j
		}
	}
	return p.Langs()[i]
}

func TestTrainScoresWriteRead(t *testing.T) {
	p := Train(corpus, 200)
	for _, tc := range []struct{ text, want string }{
		{"Die Straße ist lang.", "de"},
		{"Mbwa wanacheza shule.", "sw"},
		{"犬は庭で遊んでいます", "ja"},
	} {
		if got := best(p, tc.text); got != tc.want {
			t.Errorf("%q: best %s, want %s", tc.text, got, tc.want)
		}
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Langs(), q.Langs()) {
		t.Fatalf("languages %v after a round trip, want %v", q.Langs(), p.Langs())
	}
	a, n1 := p.Scores("Die Kinder wanacheza")
	b, n2 := q.Scores("Die Kinder wanacheza")
	for i := range a {
		if d := a[i] - b[i]; n1 != n2 || d > 1e-3 || d < -1e-3 {
			t.Fatalf("scores %v vs %v after a round trip", a, b)
		}
	}
	// Writing is deterministic, so a regenerated profile diffs cleanly.
	var again bytes.Buffer
	if err := q.Write(&again); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("a re-written profile differs (%v)", err)
	}
	if s, n := p.Scores("123 !!"); n != 0 || s[0] != 0 {
		t.Errorf("text without letters: %d grams, scores %v", n, s)
	}
}

func TestGrams(t *testing.T) {
	var got []string
	Grams("Ab, c", func(g string) { got = append(got, g) })
	want := strings.Fields("a b c")
	for _, w := range []string{" a", "ab", "b ", " c", "c ", " ab", "ab ", " ab ", "b c", "b c "} {
		want = append(want, w)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("grams of %q lack %q: %q", "Ab, c", w, got)
		}
	}
}

func TestReadErrors(t *testing.T) {
	for _, bad := range []string{"not gzip", ""} {
		if _, err := Read(strings.NewReader(bad)); err == nil {
			t.Errorf("Read(%q) succeeded", bad)
		}
	}
}

// TestScoresHalvesEqualsThreeScores: the halves' shared lookups change
// nothing, to the bit, wherever the cut falls (in a word, at punctuation,
// in a run of spaces, in unspaced script, at either end).
func TestScoresHalvesEqualsThreeScores(t *testing.T) {
	p := Train(corpus, 200)
	texts := []string{
		"Der Hund läuft schnell über die Straße und bellt laut.",
		"Die Kinder, watoto wanacheza!  Mpira -- katika bustani.",
		"子どもたちは学校の庭でボールで遊んでいます。犬は道を速く走って",
		"a",
		"123 !!",
		"",
	}
	for _, text := range texts {
		for cut := 0; cut <= len(text); cut++ {
			h := p.ScoresHalves(text, cut)
			for _, c := range []struct {
				part string
				got  []float64
				n    int
			}{{text, h.Whole, h.NWhole}, {text[:cut], h.A, h.NA}, {text[cut:], h.B, h.NB}} {
				want, n := p.Scores(c.part)
				if n != c.n || !slices.Equal(want, c.got) {
					t.Fatalf("%q cut at %d, part %q: %d grams %v, want %d grams %v", text, cut, c.part, c.n, c.got, n, want)
				}
			}
		}
	}
}
