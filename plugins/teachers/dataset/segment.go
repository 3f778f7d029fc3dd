package dataset

import (
	"strings"
	"unicode"

	"github.com/clipperhouse/uax29/v2/graphemes"
	"github.com/clipperhouse/uax29/v2/words"
)

// segments splits text at Unicode word boundaries (UAX #29). Scripts written
// without spaces come out in small pieces: every Han ideograph and kana
// character is a segment of its own, Thai and similar scripts break at each
// grapheme, so a corruption that moves or drops "words" changes those texts
// too instead of finding one unbreakable word (strings.Fields did).
func segments(s string) []string {
	var out []string
	it := words.FromString(s)
	for it.Next() {
		out = append(out, it.Value())
	}
	return out
}

// isWord says whether a segment carries content (a letter, mark or digit),
// as opposed to spaces and punctuation, which stay where they are.
func isWord(seg string) bool {
	for _, r := range seg {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) {
			return true
		}
	}
	return false
}

// graphemeClusters splits text into user-perceived characters.
func graphemeClusters(s string) []string {
	var out []string
	it := graphemes.FromString(s)
	for it.Next() {
		out = append(out, it.Value())
	}
	return out
}

// shuffler is the part of *rand.Rand the corruptions need.
type shuffler interface {
	Shuffle(n int, swap func(i, j int))
	IntN(n int) int
}

// scramble permutes the content segments of s among their own positions,
// leaving spaces and punctuation in place. A text with fewer than two
// distinct words (one long word, one repeated word) has its characters
// permuted instead. The result differs from s whenever any permutation can.
func scramble(s string, rng shuffler) string {
	segs := segments(s)
	var pos []int
	distinct := map[string]bool{}
	for i, g := range segs {
		if isWord(g) {
			pos = append(pos, i)
			distinct[g] = true
		}
	}
	if len(distinct) < 2 {
		gs := graphemeClusters(s)
		return permute(gs, allIndexes(len(gs)), rng)
	}
	return permute(segs, pos, rng)
}

func allIndexes(n int) []int {
	ix := make([]int, n)
	for i := range ix {
		ix[i] = i
	}
	return ix
}

// permute shuffles parts at the positions pos until the joined text changes
// (a few attempts; with two distinct parts a swap always exists).
func permute(parts []string, pos []int, rng shuffler) string {
	orig := strings.Join(parts, "")
	if len(pos) < 2 {
		return orig
	}
	vals := make([]string, len(pos))
	out := append([]string(nil), parts...)
	for range 8 {
		for k, i := range pos {
			vals[k] = parts[i]
		}
		rng.Shuffle(len(vals), func(a, b int) { vals[a], vals[b] = vals[b], vals[a] })
		for k, i := range pos {
			out[i] = vals[k]
		}
		if s := strings.Join(out, ""); s != orig {
			return s
		}
	}
	// Every shuffle came back unchanged (very few parts): rotate by one,
	// which changes the text as soon as two parts differ.
	for k, i := range pos {
		out[i] = parts[pos[(k+1)%len(pos)]]
	}
	return strings.Join(out, "")
}

// dropWord removes one content segment (and one space next to it, so that
// spaced scripts keep single spaces).
func dropWord(s string, rng shuffler) string {
	segs := segments(s)
	var pos []int
	for i, g := range segs {
		if isWord(g) {
			pos = append(pos, i)
		}
	}
	if len(pos) < 2 {
		return s
	}
	i := pos[rng.IntN(len(pos))]
	drop := map[int]bool{i: true}
	switch {
	case i+1 < len(segs) && strings.TrimSpace(segs[i+1]) == "":
		drop[i+1] = true
	case i > 0 && strings.TrimSpace(segs[i-1]) == "":
		drop[i-1] = true
	}
	var b strings.Builder
	for j, g := range segs {
		if !drop[j] {
			b.WriteString(g)
		}
	}
	return b.String()
}

// truncateText keeps the first fifth of the text's characters (at least one),
// cutting between grapheme clusters so that no character is split.
func truncateText(s string) string {
	gs := graphemeClusters(s)
	n := max(1, len(gs)/5)
	return strings.Join(gs[:min(n, len(gs))], "")
}
