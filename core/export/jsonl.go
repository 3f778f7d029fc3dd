package export

import (
	"unicode/utf8"
)

// appendMessagesJSON appends `{"messages":[...]`, the opening every row
// format shares (the caller closes the object).
func appendMessagesJSON(b []byte, msgs []Message) []byte {
	b = append(b, `{"messages":[`...)
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = appendJSONString(b, m.Role)
		b = append(b, `,"content":`...)
		b = appendJSONString(b, m.Content)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendRecordJSON appends r as one JSON line, byte for byte what
// encoding/json's Encoder (with SetEscapeHTML(false)) writes for Record.
// Written by hand because reflection-based encoding was a third of the
// JSONL export's CPU on 1.4M examples; TestAppendRecordJSON holds it to
// encoding/json's output.
func appendRecordJSON(b []byte, r *Record) []byte {
	b = appendMessagesJSON(b, r.Messages)
	b = append(b, `,"teacher":`...)
	b = appendJSONString(b, r.Teacher)
	b = append(b, `,"language":`...)
	b = appendJSONString(b, r.Language)
	b = append(b, `,"strategy":`...)
	b = appendJSONString(b, r.Strategy)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, r.ID)
	if r.System != "" {
		b = append(b, `,"system":`...)
		b = appendJSONString(b, r.System)
	}
	if r.Control != "" {
		b = append(b, `,"control":`...)
		b = appendJSONString(b, r.Control)
	}
	return append(b, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s like encoding/json without HTML escaping:
// control characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028
// and U+2029 escaped (they end lines in JavaScript).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
