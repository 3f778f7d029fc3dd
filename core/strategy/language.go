package strategy

import (
	"fmt"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// Language is a target language with the names templates use.
type Language struct {
	Tag    string // BCP-47 tag as given
	Name   string // English name, e.g. "Yoruba", "Traditional Chinese"
	Native string // autonym, e.g. "Èdè Yorùbá", "繁體中文"
	Script string // English script name, e.g. "Latin", "Traditional Han"
}

// ResolveLanguage looks the names of a BCP-47 tag up in CLDR.
func ResolveLanguage(tag string) (Language, error) {
	t, err := language.Parse(tag)
	if err != nil {
		return Language{}, fmt.Errorf("language %q is not a valid BCP-47 tag (%v); use a tag such as \"ar\", \"sr-Latn\" or \"zh-Hant\"", tag, err)
	}
	if t == language.Und {
		return Language{}, fmt.Errorf("language %q has no name in CLDR; use a registered BCP-47 tag", tag)
	}
	base, _ := t.Base()
	script, _ := t.Script()
	l := Language{
		Tag:    tag,
		Name:   display.English.Tags().Name(t),
		Native: display.Self.Name(t),
		Script: display.English.Scripts().Name(script),
	}
	baseName := display.English.Languages().Name(base)
	// CLDR folds some tags into macro-languages (sr-Latn reads "Serbo-
	// Croatian"); name the language and the script instead.
	if !strings.Contains(l.Name, baseName) {
		l.Name = baseName + " (" + l.Script + ")"
		if n := display.Languages(t); n != nil {
			l.Native = n.Name(base)
		}
	}
	if l.Name == "" || l.Name == "Unknown language" {
		return Language{}, fmt.Errorf("language %q has no name in CLDR; use a registered BCP-47 tag", tag)
	}
	if l.Native == "" {
		l.Native = l.Name
	}
	return l, nil
}

// langKey is what two tags must share to name the same written language:
// the base language and the (likely) script. Regions are ignored, so es-MX
// rows serve "es"; scripts are not, so "sr" (Cyrillic) rows do not serve
// "sr-Latn".
func langKey(tag string) (string, bool) {
	t, err := language.Parse(tag)
	if err != nil {
		return "", false
	}
	b, _ := t.Base()
	s, _ := t.Script()
	return b.String() + "-" + s.String(), true
}

// SameLanguage reports whether a and b name the same language in the same
// script.
func SameLanguage(a, b string) bool {
	ka, ok1 := langKey(a)
	kb, ok2 := langKey(b)
	return ok1 && ok2 && ka == kb
}
