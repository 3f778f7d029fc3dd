package strategy

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Fixed placeholders every template may use. Step outputs are
// {{steps.NAME.text}} and {{steps.NAME.FIELD}}.
var fixedPlaceholders = map[string]string{
	"language":        "English name of the target language",
	"language_native": "the target language's name in itself",
	"language_code":   "the target language's BCP-47 tag",
	"script":          "English name of the target language's script",
	"seed.prompt":     "the seed row's prompt",
	"seed.response":   "the seed row's response",
	"seed.id":         "the seed row's id",
	"seed.language":   "the seed row's language tag",
	"examples":        "the k in-context seed pairs, formatted",
	"task_family":     "the task family to write, with its description",
}

// Placeholder is one {{name}} in a template.
type Placeholder struct {
	Name      string
	Line, Col int // 1-based, columns in characters
}

type part struct {
	lit string
	ph  *Placeholder
}

// Template is a parsed template file.
type Template struct {
	Path  string
	parts []part
}

// Placeholders lists the template's placeholders in order.
func (t *Template) Placeholders() []Placeholder {
	var out []Placeholder
	for _, p := range t.parts {
		if p.ph != nil {
			out = append(out, *p.ph)
		}
	}
	return out
}

// Uses reports whether the template has the placeholder name.
func (t *Template) Uses(name string) bool {
	for _, p := range t.parts {
		if p.ph != nil && p.ph.Name == name {
			return true
		}
	}
	return false
}

// maxTemplateBytes caps a template file (as spec.MaxReadBytes).
const maxTemplateBytes = 16 << 20

// LoadTemplate reads and parses a template file. Placeholders are
// {{name}} (spaces inside the braces are allowed); {{"text"}} writes text
// literally, e.g. {{"{{"}} for two braces. Unknown placeholders are errors
// that give file:line:col.
func LoadTemplate(path string) (*Template, error) {
	// Only a regular file of sane size: a FIFO would block, /dev/zero
	// never end (the spec checks this too; the file may have changed).
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > maxTemplateBytes {
		return nil, fmt.Errorf("template %s: not a regular file of at most %d bytes", path, maxTemplateBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%s: template is not valid UTF-8; save it as UTF-8", path)
	}
	return ParseTemplate(path, string(b))
}

// ParseTemplate parses template text; name is used in errors.
func ParseTemplate(name, text string) (*Template, error) {
	t := &Template{Path: name}
	line, col := 1, 1
	advance := func(s string) {
		for _, r := range s {
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
	}
	var lit strings.Builder
	for len(text) > 0 {
		i := strings.Index(text, "{{")
		if i < 0 {
			lit.WriteString(text)
			break
		}
		lit.WriteString(text[:i])
		advance(text[:i])
		startLine, startCol := line, col
		j := strings.Index(text[i+2:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("%s:%d:%d: \"{{\" is never closed; close the placeholder with \"}}\" or write a literal {{\"{{\"}}", name, startLine, startCol)
		}
		inner := strings.TrimSpace(text[i+2 : i+2+j])
		whole := text[i : i+2+j+2]
		advance(whole)
		text = text[i+2+j+2:]
		if strings.HasPrefix(inner, `"`) {
			s, err := strconv.Unquote(inner)
			if err != nil {
				return nil, fmt.Errorf("%s:%d:%d: %s is not a valid quoted literal (%v)", name, startLine, startCol, whole, err)
			}
			lit.WriteString(s)
			continue
		}
		if err := checkPlaceholder(inner); err != nil {
			return nil, fmt.Errorf("%s:%d:%d: %s: %v", name, startLine, startCol, whole, err)
		}
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String()})
			lit.Reset()
		}
		t.parts = append(t.parts, part{ph: &Placeholder{Name: inner, Line: startLine, Col: startCol}})
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, part{lit: lit.String()})
	}
	return t, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r == '-' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return true
}

// checkPlaceholder accepts the fixed names and steps.NAME.FIELD.
func checkPlaceholder(name string) error {
	if _, ok := fixedPlaceholders[name]; ok {
		return nil
	}
	parts := strings.Split(name, ".")
	if parts[0] == "steps" {
		if len(parts) == 3 && isIdent(parts[1]) && isIdent(parts[2]) {
			return nil
		}
		return fmt.Errorf("a step output is written {{steps.STEP.text}} or {{steps.STEP.FIELD}}")
	}
	known := make([]string, 0, len(fixedPlaceholders))
	for k := range fixedPlaceholders {
		known = append(known, k)
	}
	sort.Strings(known)
	hint := ""
	if s := closest(name, known); s != "" {
		hint = fmt.Sprintf(" Did you mean {{%s}}?", s)
	}
	return fmt.Errorf("unknown placeholder.%s Known placeholders: %s, steps.STEP.text, steps.STEP.FIELD", hint, strings.Join(known, ", "))
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Vars are placeholder values by name.
type Vars map[string]string

// Lookup returns a placeholder's value.
func (v Vars) Lookup(name string) (string, bool) {
	s, ok := v[name]
	return s, ok
}

// Lookup gives placeholder values by name (Vars, or the engine's values
// of a request, which are looked up only when a template uses them).
type Lookup interface {
	Lookup(name string) (string, bool)
}

// Render fills the placeholders. A placeholder without a value is an error
// naming its position, never an empty string in a prompt.
func (t *Template) Render(vars Lookup) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.ph == nil {
			b.WriteString(p.lit)
			continue
		}
		v, ok := vars.Lookup(p.ph.Name)
		if !ok {
			return "", fmt.Errorf("%s:%d:%d: no value for {{%s}}", t.Path, p.ph.Line, p.ph.Col, p.ph.Name)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// cache holds parsed templates by path, keyed also by size and mtime so
// that an edited file is read again. The file is looked at again at most
// every templateRecheck: a stat per call was a tenth of the host's CPU per
// request at high request rates.
var cache sync.Map // path -> *cached

type cached struct {
	size    int64
	mod     time.Time
	t       *Template
	checked atomic.Int64 // unix nanoseconds of the last stat
}

const templateRecheck = time.Second

func loadCached(path string) (*Template, error) {
	now := time.Now()
	var prev *cached
	if c, ok := cache.Load(path); ok {
		prev = c.(*cached)
		if now.UnixNano()-prev.checked.Load() < int64(templateRecheck) {
			return prev.t, nil
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if prev != nil && prev.size == st.Size() && prev.mod.Equal(st.ModTime()) {
		prev.checked.Store(now.UnixNano())
		return prev.t, nil
	}
	t, err := LoadTemplate(path)
	if err != nil {
		return nil, err
	}
	c := &cached{size: st.Size(), mod: st.ModTime(), t: t}
	c.checked.Store(now.UnixNano())
	cache.Store(path, c)
	return t, nil
}
