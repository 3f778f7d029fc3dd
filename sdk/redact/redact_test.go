package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// The keys are shaped like real ones, plus the characters that JSON and
// URL encoders rewrite.
var keys = []string{
	"sk-proj-T3stK3yN0tR3al0000aaaa",
	"sk-<ant>&api03/Q+x=é-ZZZZ",
	"hdr-secret \"quoted\" \\ back🔑slash",
}

var pctHex = regexp.MustCompile(`%[0-9A-F]{2}`)

func goJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// plants returns bodies that carry key in one encoding each, as a server
// might echo it.
func plants(key string) map[string]string {
	p := map[string]string{
		"raw":             `{"error":{"message":"Incorrect API key provided: ` + key + `"}}`,
		"json go":         `{"error":{"message":"Incorrect API key provided: ` + goJSON(key) + `"}}`,
		"json twice":      `{"detail":"` + goJSON(`{"key":"`+goJSON(key)+`"}`) + `"}`,
		"json slash":      `{"k":"` + strings.ReplaceAll(goJSON(key), "/", `\/`) + `"}`,
		"url query":       `GET https://api.example.test/v1/x?key=` + url.QueryEscape(key) + `&b=1 failed`,
		"url path":        `GET https://api.example.test/keys/` + url.PathEscape(key) + `/usage failed`,
		"url form %20":    `key=` + strings.ReplaceAll(url.QueryEscape(key), "+", "%20"),
		"url lower hex":   `key=` + pctHex.ReplaceAllStringFunc(url.QueryEscape(key), strings.ToLower),
		"json ascii":      `{"m":"` + jsonEscape(key, true, false) + `"}`,
		"json ascii up":   `{"m":"` + jsonEscape(key, true, true) + `"}`,
		"json go uphex":   `{"m":"` + upperHex(goJSON(key)) + `"}`,
		"double then b64": base64.StdEncoding.EncodeToString([]byte(`{"auth":"` + goJSON(key) + `"}`)),
	}
	// Base64 of the key inside a longer value, at every alignment, both
	// alphabets, padded or not: e.g. a Basic auth header echoed back.
	for pre := 0; pre < 3; pre++ {
		for post := 0; post < 3; post++ {
			v := []byte(strings.Repeat("u", pre) + key + strings.Repeat("v", post))
			p["b64 std "+string(rune('0'+pre))+string(rune('0'+post))] = `"Authorization: Basic ` + base64.StdEncoding.EncodeToString(v) + `"`
			p["b64 url raw "+string(rune('0'+pre))+string(rune('0'+post))] = `token=` + base64.RawURLEncoding.EncodeToString(v) + `;`
		}
	}
	return p
}

func TestEveryEncodingIsRedacted(t *testing.T) {
	s := New(keys...)
	for _, key := range keys {
		for name, body := range plants(key) {
			t.Run(key[:6]+"/"+name, func(t *testing.T) {
				got := s.String(body)
				if !strings.Contains(got, Mask) {
					t.Fatalf("nothing redacted in %q", body)
				}
				if leaks(got, key) {
					t.Fatalf("key still recoverable from %q", got)
				}
				if b := s.Bytes([]byte(body)); string(b) != got {
					t.Fatalf("Bytes and String differ: %q vs %q", b, got)
				}
			})
		}
	}
}

// leaks reports whether key can still be read out of text by undoing, up
// to three times over and in any order, JSON escapes, percent-encoding and
// base64 (any run of base64 characters, decoded from each of its first
// four positions).
func leaks(text, key string) bool {
	cands := map[string]bool{text: true}
	for round := 0; round < 3; round++ {
		for c := range cands {
			if strings.Contains(c, key) {
				return true
			}
			next := []string{unJSON(c), unPercent(c, false), unPercent(c, true)}
			for _, run := range b64Runs(c) {
				run = strings.TrimRight(run, "=")
				for start := 0; start < 4 && start < len(run); start++ {
					r := run[start:]
					if len(r)%4 == 1 {
						r = r[:len(r)-1]
					}
					for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
						if d, err := enc.DecodeString(r); err == nil {
							next = append(next, string(d))
						}
					}
				}
			}
			for _, n := range next {
				if len(cands) < 4096 {
					cands[n] = true
				}
			}
		}
	}
	for c := range cands {
		if strings.Contains(c, key) {
			return true
		}
	}
	return false
}

// unJSON undoes JSON string escapes wherever they are, \u in either case
// and surrogate pairs included.
func unJSON(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'u':
			if i+4 < len(s) {
				if v, err := strconv.ParseUint(s[i+1:i+5], 16, 32); err == nil {
					r := rune(v)
					i += 4
					if utf16.IsSurrogate(r) && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
						if v2, err := strconv.ParseUint(s[i+3:i+7], 16, 32); err == nil {
							r = utf16.DecodeRune(r, rune(v2))
							i += 6
						}
					}
					b.WriteRune(r)
					continue
				}
			}
			b.WriteByte('u')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// unPercent undoes %XX escapes (either case) and, with plus, '+' as space.
func unPercent(s string, plus bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		if plus && s[i] == '+' {
			b.WriteByte(' ')
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func b64Runs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '-' || r == '_')
	})
}

func TestLeaksSeesThePlants(t *testing.T) {
	// The checker must find every plant before redaction, or the test
	// above proves nothing.
	for _, key := range keys {
		for name, body := range plants(key) {
			if !leaks(body, key) {
				t.Errorf("%s/%s: leaks() does not see the key in %q", key[:6], name, body)
			}
		}
	}
}

func TestShortAndEmptySecretsAreIgnored(t *testing.T) {
	s := New("", "true", "en", "1234567")
	if s.Len() != 0 {
		t.Fatalf("short secrets kept: %d", s.Len())
	}
	in := "true en 1234567 stays"
	if got := s.String(in); got != in {
		t.Fatalf("short secret redacted: %q", got)
	}
}

func TestCleanInputIsNotCopied(t *testing.T) {
	s := New(keys...)
	in := []byte(`{"choices":[{"message":{"content":"Guten Tag"}}]}`)
	out := s.Bytes(in)
	if &out[0] != &in[0] {
		t.Fatal("clean input was copied")
	}
	var empty Set
	if got := empty.String("x " + keys[0]); got != "x "+keys[0] {
		t.Fatalf("empty set changed text: %q", got)
	}
}

func TestWriterRedactsEachWrite(t *testing.T) {
	var buf bytes.Buffer
	s := New(keys[0])
	w := s.Writer(&buf)
	line := []byte(`{"level":"warn","raw":"` + keys[0] + `"}` + "\n")
	n, err := w.Write(line)
	if err != nil || n != len(line) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(line))
	}
	if strings.Contains(buf.String(), keys[0]) || !strings.Contains(buf.String(), Mask) {
		t.Fatalf("writer passed the key: %q", buf.String())
	}
	s.Add(keys[1])
	w.Write([]byte(goJSON(keys[1])))
	if strings.Contains(buf.String(), goJSON(keys[1])) {
		t.Fatal("a secret added later is not redacted")
	}
}

func BenchmarkStringClean1KB(b *testing.B) {
	s := New(keys...)
	text := strings.Repeat("Die Antwort hängt vom Zusammenhang ab. ", 26)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		s.String(text)
	}
}

func BenchmarkStringClean1KBOneKey(b *testing.B) {
	s := New(keys[0])
	text := strings.Repeat("Die Antwort hängt vom Zusammenhang ab. ", 26)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		s.String(text)
	}
}
