package length

import (
	"sync"
	"unicode"

	"github.com/tiktoken-go/tokenizer"
)

// tiktoken-go/tokenizer v0.10.0 splits a whitespace run that has a newline,
// then other whitespace, then a newline ("\n \n") at the first newline:
// its regexp engine (regexp2) does not backtrack `\s*` in the pattern's
// `\s*[\r\n]+`, so "Hello\n \nWorld" gives 4 tokens where tiktoken gives 3.
// Tokens therefore cuts such runs out itself, as tiktoken's pattern does,
// and encodes them with wsBPE below instead of the library.

// wsRanks maps each token of an encoding that is made only of ASCII
// whitespace to its rank (its id), read once from the library's vocabulary.
type wsRanks struct {
	once  sync.Once
	ranks map[string]int
}

var wsRanksByEncoding sync.Map // encoding name -> *wsRanks

func isASCIISpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

func whitespaceRanks(name string, codec tokenizer.Codec) map[string]int {
	v, _ := wsRanksByEncoding.LoadOrStore(name, &wsRanks{})
	w := v.(*wsRanks)
	w.once.Do(func() {
		w.ranks = map[string]int{}
		// Ids are dense up to the special tokens; 1<<18 covers o200k_base.
		for id := uint(0); id < 1<<18; id++ {
			s, err := codec.Decode([]uint{id})
			if err != nil || s == "" {
				continue
			}
			ok := true
			for i := 0; i < len(s) && ok; i++ {
				ok = isASCIISpace(s[i])
			}
			if ok {
				w.ranks[s] = int(id)
			}
		}
	})
	return w.ranks
}

// wsBPE counts the tokens of an ASCII-whitespace piece by tiktoken's byte
// pair merge: repeatedly join the adjacent parts whose concatenation has the
// lowest rank.
func wsBPE(piece string, ranks map[string]int) int {
	bounds := make([]int, len(piece)+1)
	for i := range bounds {
		bounds[i] = i
	}
	for len(bounds) > 2 {
		best, at := -1, -1
		for i := 0; i+2 < len(bounds); i++ {
			if r, ok := ranks[piece[bounds[i]:bounds[i+2]]]; ok && (best < 0 || r < best) {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		bounds = append(bounds[:at+1], bounds[at+2:]...)
	}
	return len(bounds) - 1
}

// segment is a stretch of text that is a sequence of whole tiktoken pieces;
// ws marks a single newline-containing whitespace piece that the library
// would split wrongly.
type segment struct {
	text string
	ws   bool
}

// splitNewlineRuns cuts out of text every whitespace piece that tiktoken's
// `\s*[\r\n]+` matches and that has a non-newline whitespace character
// between two newlines (the case the library gets wrong). Such a piece is
// a maximal whitespace run up to and including its last newline, less the
// newlines that a preceding punctuation piece (` ?[^\s\p{L}\p{N}]+[\r\n]*`)
// takes; marks count as letters in o200k_base, as punctuation otherwise.
func splitNewlineRuns(text string, marksAreLetters bool, out []segment) []segment {
	start := 0
	i := 0
	for i < len(text) {
		if !isASCIISpace(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isASCIISpace(text[j]) {
			j++
		}
		runStart := i
		if i > 0 && absorbsNewlines(text[:i], marksAreLetters) {
			for runStart < j && (text[runStart] == '\n' || text[runStart] == '\r') {
				runStart++
			}
		}
		last := -1
		for k := runStart; k < j; k++ {
			if text[k] == '\n' || text[k] == '\r' {
				last = k
			}
		}
		if last >= 0 && hasGapBetweenNewlines(text[runStart:last+1]) && (j == len(text) || !unicode.IsSpace(runeAt(text, j))) {
			if runStart > start {
				out = append(out, segment{text: text[start:runStart]})
			}
			out = append(out, segment{text: text[runStart : last+1], ws: true})
			start = last + 1
		}
		i = j
	}
	if start < len(text) {
		out = append(out, segment{text: text[start:]})
	}
	return out
}

// absorbsNewlines reports whether the piece ending text is punctuation,
// which takes the newlines that follow it.
func absorbsNewlines(text string, marksAreLetters bool) bool {
	r := lastRune(text)
	if unicode.IsSpace(r) || unicode.IsLetter(r) || unicode.IsNumber(r) {
		return false
	}
	return !(marksAreLetters && unicode.Is(unicode.M, r))
}

// hasGapBetweenNewlines: a newline, then other whitespace, then a newline.
func hasGapBetweenNewlines(s string) bool {
	seenNL, gap := false, false
	for i := 0; i < len(s); i++ {
		nl := s[i] == '\n' || s[i] == '\r'
		switch {
		case nl && gap:
			return true
		case nl:
			seenNL = true
		case seenNL:
			gap = true
		}
	}
	return false
}

func runeAt(s string, i int) rune {
	for _, r := range s[i:] {
		return r
	}
	return 0
}

func lastRune(s string) rune {
	r := []rune(s[max(0, len(s)-4):])
	if len(r) == 0 {
		return 0
	}
	return r[len(r)-1]
}
