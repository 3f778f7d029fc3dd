package fasttext

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPredictBatchHalvesEqualsPredict: predicting a text with its halves in
// one pass must give exactly (bit for bit) what three Predict calls give,
// whether the cut is at a space (the shared-token path), inside a word (the
// fallback) or out of range (no halves), and whether the token cache is
// warm, cold or cleared in between.
func TestPredictBatchHalvesEqualsPredict(t *testing.T) {
	queries := readLines(t, filepath.Join("testdata", "tiny.queries"))
	var texts []string
	var cuts []int
	for i := range queries {
		// Pairs of queries, so that the halves differ in language.
		text := queries[i] + " " + queries[(i+7)%len(queries)] + "  \t" + queries[(i+3)%len(queries)]
		for _, cut := range []int{
			len(queries[i]),                   // at a space
			len(queries[i]) + 1,               // inside the second query's first word, or at a space
			strings.LastIndexByte(text, '\t'), // at a tab
			len(text) / 2,                     // anywhere, may split a UTF-8 character's bytes from its start
			-1, 0, len(text),                  // no halves
		} {
			texts = append(texts, text)
			cuts = append(cuts, cut)
		}
	}
	texts = append(texts, "日本語の文章です。これは二つ目の文です。", "  leading and trailing  ")
	cuts = append(cuts, len("日本語の文章です。"), 1)
	for _, file := range []string{"tiny.bin", "tiny.ftz"} {
		m, err := LoadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{1, 3} {
			whole, halves := m.PredictBatchHalves(texts, cuts, 2, 1, 0, workers)
			for i, text := range texts {
				if want := m.Predict(text, 2, 0); !slices.Equal(whole[i], want) {
					t.Errorf("%s: text %d whole: got %v, want %v", file, i, whole[i], want)
				}
				c := cuts[i]
				if c <= 0 || c >= len(text) {
					if halves[i][0] != nil || halves[i][1] != nil {
						t.Errorf("%s: text %d cut %d: halves %v, want none", file, i, c, halves[i])
					}
					continue
				}
				for h, part := range []string{text[:c], text[c:]} {
					if want := m.Predict(part, 1, 0); !slices.Equal(halves[i][h], want) {
						t.Errorf("%s: text %d cut %d half %d %q: got %v, want %v", file, i, c, h, part, halves[i][h], want)
					}
				}
			}
		}
	}
}

// TestTokenCacheClears fills a scratch's token cache past its bound and
// checks that predictions stay the same as with a fresh scratch.
func TestTokenCacheClears(t *testing.T) {
	m, err := LoadFile(filepath.Join("testdata", "tiny.ftz"))
	if err != nil {
		t.Fatal(err)
	}
	s := m.newScratch()
	probe := "schlug fehl: Signal erhalten"
	m.predict(s, probe, 2, 0)
	want := m.emit(nil, s)
	var b strings.Builder
	for i := 0; len(s.tokIDs) < tokenCacheIDs-64; i++ {
		b.Reset()
		for j := range 64 {
			b.WriteString("w")
			b.WriteString(strings.Repeat(string(rune('a'+(i+j)%26)), 1+(i*64+j)%7))
			b.WriteString(itoa(i*64 + j))
			b.WriteByte(' ')
		}
		m.predict(s, b.String(), 1, 0)
	}
	before := len(s.tokens)
	for range 3 { // past the bound: the cache is cleared and refilled
		m.predict(s, b.String()+b.String(), 1, 0)
	}
	if len(s.tokIDs) >= tokenCacheIDs+4096 || len(s.tokens) >= before+4096 {
		t.Errorf("cache not bounded: %d rows, %d tokens", len(s.tokIDs), len(s.tokens))
	}
	m.predict(s, probe, 2, 0)
	if got := m.emit(nil, s); !slices.Equal(got, want) {
		t.Errorf("after the cache filled: %v, want %v", got, want)
	}
}

func itoa(i int) string {
	var buf [20]byte
	n := len(buf)
	for {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(buf[n:])
		}
	}
}
