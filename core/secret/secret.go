// Package secret is the host's one redaction choke point. The spec loader
// and the binder register every value that is secret (env() results,
// variables declared sensitive, config attributes a plugin's schema marks
// sensitive); every string the host stores (the store's SQLite driver, see
// Driver), logs or prints (the writers from Writer) passes through Redact,
// which removes each secret in every encoding a body can carry (see
// sdk/redact).
//
// To redact a string before showing it, call secret.Redact(s). Values
// registered here stay secret for the life of the process.
package secret

import (
	"io"

	"github.com/polyglot-teachers/polyglot/sdk/redact"
)

var set = redact.New()

// Add registers secret values. Empty and short ones (shorter than
// redact.MinLen bytes) are not searched for in text.
func Add(values ...string) { set.Add(values...) }

// Redact returns s with every registered secret, in any of its encodings,
// replaced by redact.Mask.
func Redact(s string) string { return set.String(s) }

// RedactBytes is Redact for bytes; it returns b itself when b holds no
// secret.
func RedactBytes(b []byte) []byte { return set.Bytes(b) }

// Writer returns w with every Write redacted; each Write must be a whole
// record (a log event, a line).
func Writer(w io.Writer) io.Writer { return set.Writer(w) }

// Len returns how many secrets are registered.
func Len() int { return set.Len() }
