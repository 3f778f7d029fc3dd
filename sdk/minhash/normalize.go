package minhash

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Estimate is the MinHash Jaccard estimate: the share of equal positions.
func Estimate(a, b []uint32) float64 {
	eq := 0
	for i, v := range a {
		if v == b[i] {
			eq++
		}
	}
	return float64(eq) / float64(len(a))
}

// Normalize returns the normal form used for exact matching and shingling:
// NFKC, lower case, whitespace runs collapsed to one space, trimmed.
func Normalize(s string) string {
	if !isASCII(s) { // ASCII is already NFKC
		s = norm.NFKC.String(s)
	}
	s = strings.ToLower(s)
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
