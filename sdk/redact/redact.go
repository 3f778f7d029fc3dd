// Package redact removes secrets from text in every form a secret takes on
// its way back from a server: as sent, JSON-escaped (`\u003c`, `\/`, a JSON
// string inside a JSON string), URL-encoded and base64-encoded at each of
// its three alignments. The polyglot host keeps one process-wide Set
// (core/secret) that every stored and logged string passes through;
// plugins may keep their own for what they return.
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Mask replaces every form of a secret.
const Mask = "[REDACTED]"

// MinLen is the shortest secret that is searched for in text, in bytes.
// A shorter "secret" (a sensitive flag such as "true", a two-letter
// region) occurs in ordinary text too often: replacing it would mangle
// generated data. Such values are still redacted where they are known to
// be secret (configuration displays, the recorded command line).
const MinLen = 8

// Set is a set of secrets. Its methods are safe for concurrent use; the
// zero value is an empty set, which changes nothing and costs one atomic
// load per call.
type Set struct {
	mu    sync.Mutex
	known map[string]bool
	forms atomic.Pointer[[]string] // longest first, immutable once published
}

// New returns a set holding secrets.
func New(secrets ...string) *Set {
	s := &Set{}
	s.Add(secrets...)
	return s
}

// Add adds secrets to the set. Empty and short ones (see MinLen) are
// ignored.
func (s *Set) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []string
	if p := s.forms.Load(); p != nil {
		old = *p
	}
	var add []string
	for _, x := range secrets {
		if len(x) < MinLen || s.known[x] {
			continue
		}
		if s.known == nil {
			s.known = map[string]bool{}
		}
		s.known[x] = true
		add = append(add, Forms(x)...)
	}
	if len(add) == 0 {
		return
	}
	seen := make(map[string]bool, len(old)+len(add))
	all := make([]string, 0, len(old)+len(add))
	for _, f := range append(append([]string(nil), old...), add...) {
		if !seen[f] {
			seen[f] = true
			all = append(all, f)
		}
	}
	// Longest first: a form that contains another is replaced whole.
	sort.SliceStable(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	s.forms.Store(&all)
}

// Len returns how many secrets the set holds.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.known)
}

func (s *Set) load() []string {
	if s == nil {
		return nil
	}
	if p := s.forms.Load(); p != nil {
		return *p
	}
	return nil
}

// String returns in with every form of every secret replaced by Mask.
func (s *Set) String(in string) string {
	for _, f := range s.load() {
		if strings.Contains(in, f) {
			in = strings.ReplaceAll(in, f, Mask)
		}
	}
	return in
}

// Bytes is String for a byte slice. It returns in itself, unchanged and
// without copying, when in holds no secret.
func (s *Set) Bytes(in []byte) []byte {
	for _, f := range s.load() {
		if bytes.Contains(in, []byte(f)) {
			in = bytes.ReplaceAll(in, []byte(f), []byte(Mask))
		}
	}
	return in
}

// Contains reports whether in holds a form of a secret.
func (s *Set) Contains(in string) bool {
	for _, f := range s.load() {
		if strings.Contains(in, f) {
			return true
		}
	}
	return false
}

// Writer returns a writer that redacts each Write before passing it to w.
// A secret split across two Writes is not seen: use it where every Write
// is a whole record, as a zerolog logger's (one event per Write) or a
// line printer's.
func (s *Set) Writer(w io.Writer) io.Writer { return &writer{s: s, w: w} }

type writer struct {
	s *Set
	w io.Writer
}

// Unwrap returns the writer written to, e.g. to ask whether it is a
// terminal.
func (w *writer) Unwrap() io.Writer { return w.w }

func (w *writer) Write(p []byte) (int, error) {
	q := w.s.Bytes(p)
	if len(q) == len(p) && (len(p) == 0 || &q[0] == &p[0]) {
		return w.w.Write(p)
	}
	if _, err := w.w.Write(q); err != nil {
		return 0, err
	}
	// The caller wrote p; report it whole.
	return len(p), nil
}

// Forms returns the forms of secret that Set searches for: the secret as
// is, its JSON escapes (Go's, with <, > and & as \u003c; minimal; ASCII
// only; with \/; upper-case hex; escaped twice, for a JSON document quoted
// inside another), its URL encodings (query, path, every byte but the
// unreserved ones, upper- and lower-case hex) and, for the standard and
// URL-safe base64 alphabets, the characters that the secret alone
// determines when its encoding starts at each of the three byte offsets
// of a base64 group. Forms shorter than MinLen are left out.
func Forms(secret string) []string {
	var out []string
	add := func(f string) {
		if len(f) >= MinLen {
			out = append(out, f)
		}
	}
	add(secret)
	for _, j := range jsonForms(secret) {
		add(j)
		add(jsonEscape(j, false, false))
	}
	for _, u := range urlForms(secret) {
		add(u)
	}
	// Base64 of the secret and of its JSON escapes (a JSON document
	// carried base64-encoded, as in a JWT or a Basic header).
	for _, x := range append([]string{secret}, jsonForms(secret)...) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for off := 0; off < 3; off++ {
				add(base64Core(enc, []byte(x), off))
			}
		}
	}
	seen := map[string]bool{}
	uniq := out[:0]
	for _, f := range out {
		if !seen[f] {
			seen[f] = true
			uniq = append(uniq, f)
		}
	}
	return uniq
}

// jsonForms returns the inside of the JSON string literals that different
// encoders write for s.
func jsonForms(s string) []string {
	var out []string
	b, err := json.Marshal(s) // escapes <, >, & and U+2028/9
	if err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		t := strings.TrimSpace(buf.String())
		out = append(out, t[1:len(t)-1])
	}
	ascii := jsonEscape(s, true, false)
	out = append(out, ascii, jsonEscape(s, true, true), strings.ReplaceAll(ascii, "/", `\/`))
	for _, f := range out[:2] {
		out = append(out, strings.ReplaceAll(f, "/", `\/`), upperHex(f))
	}
	return out
}

// jsonEscape escapes s for a JSON string: always " \ and control
// characters; with ascii, every non-ASCII rune and < > & as \u escapes
// (UTF-16 surrogate pairs above the BMP), as Python's json.dumps does;
// with upper, in upper-case hex.
func jsonEscape(s string, ascii, upper bool) string {
	hex := "\\u%04x"
	if upper {
		hex = "\\u%04X"
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(&b, hex, r)
		case ascii && (r == '<' || r == '>' || r == '&'):
			fmt.Fprintf(&b, hex, r)
		case ascii && r >= 0x80 && r != utf8.RuneError:
			if r > 0xFFFF {
				r -= 0x10000
				fmt.Fprintf(&b, hex, 0xD800+(r>>10))
				fmt.Fprintf(&b, hex, 0xDC00+(r&0x3FF))
			} else {
				fmt.Fprintf(&b, hex, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// upperHex rewrites the hex digits of \u escapes in upper case.
func upperHex(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+5 < len(s) && s[i+1] == 'u':
			b.WriteString(`\u` + strings.ToUpper(s[i+2:i+6]))
			i += 5
		case s[i] == '\\' && i+1 < len(s):
			b.WriteString(s[i : i+2])
			i++
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// urlForms returns s percent-encoded the ways clients and servers do.
func urlForms(s string) []string {
	q := url.QueryEscape(s)
	p := url.PathEscape(s)
	all := percentAll(s)
	return []string{q, p, all, strings.ReplaceAll(q, "+", "%20"), lowerPercent(q), lowerPercent(p), lowerPercent(all)}
}

// percentAll encodes every byte except RFC 3986's unreserved characters.
func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func lowerPercent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			b.WriteString("%" + strings.ToLower(s[i+1:i+3]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// base64Core returns the base64 characters that secret alone determines
// when it starts off bytes into a 3-byte group. Each character encodes 6
// bits; those whose bits all come from the secret are the same whatever
// precedes and follows it in the encoded data.
func base64Core(enc *base64.Encoding, secret []byte, off int) string {
	buf := make([]byte, off+len(secret))
	copy(buf[off:], secret)
	e := enc.EncodeToString(buf)
	first := (8*off + 5) / 6            // ceil(8*off / 6)
	last := 8 * (off + len(secret)) / 6 // exclusive: floor(end bit / 6)
	if last <= first || last > len(e) {
		return ""
	}
	return e[first:last]
}
