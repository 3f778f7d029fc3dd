package langid

import (
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/language"
)

// scriptCodes maps the script names of Go's unicode tables to ISO 15924 codes where
// the code is not simply the first four letters of the name (Latin -> Latn).
var scriptCodes = map[string]string{
	"Latin": "Latn", "Cyrillic": "Cyrl", "Han": "Hani", "Hangul": "Hang", "Hiragana": "Hira",
	"Katakana": "Kana", "Greek": "Grek", "Hebrew": "Hebr", "Devanagari": "Deva", "Bengali": "Beng",
	"Georgian": "Geor", "Armenian": "Armn", "Tamil": "Taml", "Telugu": "Telu", "Kannada": "Knda",
	"Malayalam": "Mlym", "Gujarati": "Gujr", "Gurmukhi": "Guru", "Oriya": "Orya", "Sinhala": "Sinh",
	"Khmer": "Khmr", "Lao": "Laoo", "Myanmar": "Mymr", "Tibetan": "Tibt", "Ethiopic": "Ethi",
	"Mongolian": "Mong", "Thaana": "Thaa", "Syriac": "Syrc", "Tifinagh": "Tfng", "Cherokee": "Cher",
	"Canadian_Aboriginal": "Cans", "Yi": "Yiii", "Javanese": "Java", "Balinese": "Bali",
	"Sundanese": "Sund", "Nko": "Nkoo", "Vai": "Vaii", "Bopomofo": "Bopo", "Ol_Chiki": "Olck",
	"Tai_Le": "Tale", "Coptic": "Copt", "Runic": "Runr", "Ogham": "Ogam", "Glagolitic": "Glag",
	"Gothic": "Goth", "Braille": "Brai", "Thai": "Thai", "Arabic": "Arab", "Adlam": "Adlm",
	"Meetei_Mayek": "Mtei", "Old_Italic": "Ital", "Tai_Tham": "Lana", "Tai_Viet": "Tavt",
	"New_Tai_Lue": "Talu", "Samaritan": "Samr", "Mandaic": "Mand", "Chakma": "Cakm",
}

type scriptTable struct {
	code  string
	table *unicode.RangeTable
}

// scriptOrder lists every unicode script, the common ones first so that the linear
// search usually stops after a step or two.
var scriptOrder = func() []scriptTable {
	first := []string{"Latin", "Cyrillic", "Arabic", "Han", "Hiragana", "Katakana", "Hangul",
		"Greek", "Hebrew", "Devanagari", "Thai", "Bengali", "Georgian", "Armenian"}
	var out []scriptTable
	seen := map[string]bool{"Common": true, "Inherited": true}
	add := func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		code := scriptCodes[name]
		if code == "" {
			n := strings.ReplaceAll(name, "_", "")
			code = strings.ToUpper(n[:1]) + strings.ToLower(n[1:min(4, len(n))])
		}
		out = append(out, scriptTable{code, unicode.Scripts[name]})
	}
	for _, n := range first {
		add(n)
	}
	rest := make([]string, 0, len(unicode.Scripts))
	for n := range unicode.Scripts {
		rest = append(rest, n)
	}
	sort.Strings(rest)
	for _, n := range rest {
		add(n)
	}
	return out
}()

func scriptOf(r rune, hint int) int {
	if hint >= 0 && unicode.Is(scriptOrder[hint].table, r) {
		return hint
	}
	for i, s := range scriptOrder {
		if unicode.Is(s.table, r) {
			return i
		}
	}
	return -1
}

// ScriptStats is the script make-up of a text, counted over letters only (digits,
// punctuation and symbols belong to no script).
type ScriptStats struct {
	// Script is the ISO 15924 code of the dominant writing system. Japanese text
	// (Han with kana) is "Jpan", Korean (Hangul, maybe with Han) "Kore", Chinese "Hani".
	// "Zyyy" when the text has no letters.
	Script string
	Share  float64        // share of letters in Script
	Counts map[string]int // letters per script code
}

// DetectScript counts the letters of text by Unicode script.
func DetectScript(text string) ScriptStats {
	// Letters are counted per script index in a small array (a text has few
	// scripts), not in the map, which costs a hash per letter.
	var seen [8]struct{ script, n int }
	nseen := 0
	var more map[int]int // scripts beyond the first len(seen)
	total := 0
	hint := 0
	for _, r := range text {
		if !unicode.IsLetter(r) {
			continue
		}
		i := scriptOf(r, hint)
		if i < 0 {
			continue
		}
		hint = i
		total++
		j := 0
		for j < nseen && seen[j].script != i {
			j++
		}
		switch {
		case j < nseen:
			seen[j].n++
		case nseen < len(seen):
			seen[nseen].script, seen[nseen].n = i, 1
			nseen++
		default:
			if more == nil {
				more = map[int]int{}
			}
			more[i]++
		}
	}
	counts := make(map[string]int, nseen+len(more))
	for _, sc := range seen[:nseen] {
		counts[scriptOrder[sc.script].code] += sc.n
	}
	for i, n := range more {
		counts[scriptOrder[i].code] += n
	}
	st := ScriptStats{Script: "Zyyy", Counts: counts}
	if total == 0 {
		return st
	}
	// Writing systems that mix scripts are scored as a whole.
	kana := counts["Hira"] + counts["Kana"]
	merged := map[string]int{}
	for c, n := range counts {
		merged[c] = n
	}
	if kana > 0 {
		merged["Jpan"] = kana + counts["Hani"]
		delete(merged, "Hira")
		delete(merged, "Kana")
		delete(merged, "Hani")
	} else if counts["Hang"] > 0 {
		merged["Kore"] = counts["Hang"] + counts["Hani"]
		delete(merged, "Hang")
		delete(merged, "Hani")
	}
	best, bestN := "", -1
	for c, n := range merged {
		if n > bestN || (n == bestN && c < best) {
			best, bestN = c, n
		}
	}
	st.Script = best
	st.Share = float64(bestN) / float64(total)
	return st
}

// ExpectedScript is the script a language is usually written in, from CLDR likely
// subtags via golang.org/x/text ("ja" -> "Jpan", "sr" -> "Cyrl", "sr-Latn" -> "Latn").
// It returns "" when CLDR does not know.
func ExpectedScript(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return ""
	}
	s, conf := t.Script()
	if conf == language.No || s.String() == "Zzzz" {
		return ""
	}
	return s.String()
}

// ScriptMatches reports whether a detected dominant script fits an expected one,
// treating Hans/Hant as Han and accepting Han or kana alone for Japanese and Han or
// Hangul alone for Korean (short texts may use one part of the system).
func ScriptMatches(detected, expected string) bool {
	if expected == "" || detected == "Zyyy" || detected == expected {
		return true
	}
	switch expected {
	case "Hans", "Hant", "Hani":
		return detected == "Hani"
	case "Jpan":
		return detected == "Hani" || detected == "Hira" || detected == "Kana"
	case "Kore":
		return detected == "Hang" || detected == "Hani"
	}
	return false
}
