// Package mocorpus builds labelled multilingual text from the gettext catalogs (.mo
// files) that Debian packages install under /usr/share/locale. It is the offline
// corpus behind the language-identification agreement test, benchmark and calibration:
// every translated message is text in the catalog's language, written by people.
//
// The .mo format is small and fixed (GNU gettext manual, "The Format of GNU MO Files"),
// so it is parsed here directly instead of shelling out to msgunfmt.
package mocorpus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

// DefaultRoot is where Debian installs message catalogs.
const DefaultRoot = "/usr/share/locale"

// ReadMO returns the translations in a .mo file: the first plural form of each
// non-empty msgstr, skipping the catalog header (the entry with an empty msgid) and
// translations identical to their msgid.
func ReadMO(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseMO(b)
}

// ParseMO is ReadMO on the bytes of a catalog.
func ParseMO(b []byte) ([]string, error) {
	if len(b) < 20 {
		return nil, errors.New("mo: file shorter than its 20-byte header")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0x950412de:
		bo = binary.LittleEndian
	case 0xde120495:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("mo: bad magic %#x, not a gettext catalog", binary.LittleEndian.Uint32(b))
	}
	n := int64(bo.Uint32(b[8:]))
	origTab, transTab := int64(bo.Uint32(b[12:])), int64(bo.Uint32(b[16:]))
	str := func(tab, i int64) (string, error) {
		off := tab + 8*i
		if off+8 > int64(len(b)) {
			return "", fmt.Errorf("mo: string table entry %d past end of file", i)
		}
		l, o := int64(bo.Uint32(b[off:])), int64(bo.Uint32(b[off+4:]))
		if o+l > int64(len(b)) {
			return "", fmt.Errorf("mo: string %d (offset %d, length %d) past end of file", i, o, l)
		}
		return string(b[o : o+l]), nil
	}
	out := make([]string, 0, n)
	for i := int64(0); i < n; i++ {
		id, err := str(origTab, i)
		if err != nil {
			return nil, err
		}
		if id == "" {
			continue
		}
		tr, err := str(transTab, i)
		if err != nil {
			return nil, err
		}
		if j := strings.IndexByte(tr, 0); j >= 0 {
			tr = tr[:j]
		}
		if i := strings.IndexByte(id, 0); i >= 0 {
			id = id[:i]
		}
		// A translation equal to its English msgid is an untranslated copy, not text
		// in the catalog's language.
		if tr != "" && tr != id {
			out = append(out, tr)
		}
	}
	return out, nil
}

// Line is one message and the base language of its catalog.
type Line struct {
	Lang string // "de", "pt", "sr", ... from the locale directory name
	Text string // one line: newlines and tabs replaced by spaces
}

// LocaleLang returns the base language of a locale directory name:
// "pt_BR" -> "pt", "sr@latin" -> "sr", "de.UTF-8" -> "de".
func LocaleLang(locale string) string {
	if i := strings.IndexAny(locale, "_@."); i >= 0 {
		locale = locale[:i]
	}
	return strings.ToLower(locale)
}

// Clean puts a message on one line and drops gettext noise that is not language:
// printf directives, keyboard-accelerator markers and runs of spaces.
func Clean(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+1 < len(s):
			// skip a printf directive: %[flags][width][.prec][len]conv
			j := i + 1
			for j < len(s) && strings.IndexByte("0123456789$#-+ .'lhjzqtIL*", s[j]) >= 0 {
				j++
			}
			if j < len(s) {
				i = j
			}
			continue
		case c == '&' || c == '_':
			continue
		case c == '\n' || c == '\t' || c == '\r' || c == ' ':
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		b.WriteByte(c)
		space = false
	}
	return strings.TrimRight(b.String(), " ")
}

// Letters counts the letters in s.
func Letters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

// Collect reads every catalog under root (root/<locale>/LC_MESSAGES/*.mo), cleans the
// messages, keeps those with at least minLetters letters, drops exact duplicates within
// a language, and returns them grouped by language in a deterministic order.
func Collect(root string, minLetters int) (map[string][]string, error) {
	paths, err := filepath.Glob(filepath.Join(root, "*", "LC_MESSAGES", "*.mo"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("mocorpus: no .mo catalogs under %s; install translated packages (e.g. apt-get install -y git coreutils gettext)", root)
	}
	sort.Strings(paths)
	byLang := map[string][]string{}
	seen := map[string]map[string]bool{}
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		lang := LocaleLang(strings.SplitN(rel, string(filepath.Separator), 2)[0])
		msgs, err := ReadMO(p)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				continue
			}
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if seen[lang] == nil {
			seen[lang] = map[string]bool{}
		}
		for _, m := range msgs {
			t := Clean(m)
			if Letters(t) < minLetters || seen[lang][t] {
				continue
			}
			seen[lang][t] = true
			byLang[lang] = append(byLang[lang], t)
		}
	}
	return byLang, nil
}

// Interleave draws up to n lines from byLang round-robin over the languages (sorted),
// so a prefix of the result covers all languages evenly rather than the largest ones.
func Interleave(byLang map[string][]string, n int) []Line {
	langs := make([]string, 0, len(byLang))
	for l := range byLang {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	out := make([]Line, 0, n)
	for i := 0; len(out) < n; i++ {
		added := false
		for _, l := range langs {
			if i < len(byLang[l]) {
				out = append(out, Line{Lang: l, Text: byLang[l][i]})
				added = true
				if len(out) == n {
					break
				}
			}
		}
		if !added {
			break
		}
	}
	return out
}
