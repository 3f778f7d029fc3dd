package wire

import (
	"encoding/json"
	"strings"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// JSONInstruction is appended to the system prompt when a provider has no
// structured-output mode (or it is switched off): the answer is then parsed
// with ExtractJSONObject.
func JSONInstruction(schema string) string {
	var b strings.Builder
	b.WriteString("Answer with exactly one JSON object and nothing else: no prose before or after it, no code fences.")
	if strings.TrimSpace(schema) != "" {
		b.WriteString(" The object must validate against this JSON Schema:\n")
		b.WriteString(schema)
	}
	return b.String()
}

// ExtractJSONObject returns the first complete JSON object in s. Models
// asked for JSON without a structured-output mode often wrap it in prose or
// a ```json fence; the object itself is what the host parses.
func ExtractJSONObject(s string) (string, bool) {
	t := strings.TrimSpace(s)
	if len(t) > 0 && t[0] == '{' && json.Valid([]byte(t)) {
		return t, true
	}
	for i := 0; i < len(s); i++ {
		j := strings.IndexByte(s[i:], '{')
		if j < 0 {
			break
		}
		i += j
		dec := json.NewDecoder(strings.NewReader(s[i:]))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == nil {
			return string(raw), true
		}
	}
	return "", false
}

// SplitSystem separates system messages (joined by blank lines) from the
// conversation, for APIs that take the system prompt as a separate field.
func SplitSystem(msgs []sdk.Message) (system string, rest []sdk.Message) {
	n := 0
	for _, m := range msgs {
		if m.Role == "system" {
			n++
		}
	}
	if n == 0 {
		return "", msgs
	}
	var b strings.Builder
	rest = make([]sdk.Message, 0, len(msgs)-n)
	for _, m := range msgs {
		if m.Role == "system" {
			if b.Len() > 0 {
				b.WriteString("\n\n")
			}
			b.WriteString(m.Content)
			continue
		}
		rest = append(rest, m)
	}
	return b.String(), rest
}

// WithSystemSuffix returns system with suffix appended after a blank line.
func WithSystemSuffix(system, suffix string) string {
	if system == "" {
		return suffix
	}
	return system + "\n\n" + suffix
}

// FinishJSON prepares a JSON-mode answer: when the text holds a JSON object
// (bare, fenced or wrapped in prose) the result carries just the object.
// An answer without one is returned as it is, not as an error: the answer
// was made and paid for, and what to do with an unusable answer (record
// it as "parse_error" or "truncated" with its text, re-ask a configured
// number of times) is the strategy's decision in the host. As a call error
// it would be retried blindly, and a cut-off answer would be cut off again.
func FinishJSON(res *sdk.Result) (*sdk.Result, error) {
	if obj, ok := ExtractJSONObject(res.Text); ok {
		res.Text = obj
	}
	return res, nil
}
