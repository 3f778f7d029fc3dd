package wire

import (
	"math"
	"strconv"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
)

// AppendJSON is implemented by request bodies that write themselves. The
// chat request is built tens of thousands of times per cell and reflection
// in encoding/json was the largest cost of the plugin's own work per call;
// the bodies are flat and known, so a few append helpers do it without
// reflection. Anything unusual (a user schema) is still encoded by
// encoding/json and spliced in raw.
type AppendJSON interface {
	AppendJSON(dst []byte) ([]byte, error)
}

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does; HTML characters are not escaped (no browser reads
// these bodies).
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers
		// some proxies use; encoding/json escapes them too.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFloat appends f as a JSON number; NaN and infinities, which JSON
// cannot carry, are an error.
func AppendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, constErr("a sampling parameter is NaN or infinite")
	}
	// The same form encoding/json writes: plain decimals, exponents only
	// for very small or large magnitudes, without a leading zero in them.
	format, abs := byte('f'), math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if n := len(dst); format == 'e' && n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
		dst[n-2] = dst[n-1]
		dst = dst[:n-1]
	}
	return dst, nil
}

// Unmarshal decodes a provider's answer. It is goccy/go-json, a drop-in
// for encoding/json: decoding each chat answer with encoding/json was the
// largest share of a plugin's own CPU per call after the HTTP exchange
// (about 6 µs against 0.7 µs for a typical answer), and the answer shapes
// are plain structs, where the two agree.
func Unmarshal(data []byte, v any) error {
	return gojson.Unmarshal(data, v)
}
