package store

import (
	"testing"

	"github.com/polyglot-teachers/polyglot/core/secret"
)

// BenchmarkWriterGroupCommitOneSecret is BenchmarkWriterGroupCommit with
// an API key registered, so that every argument is searched (the
// store's driver redacts each; core/secret). Compare the two in one run;
// it registers the key for the rest of the process, so it runs last.
func BenchmarkWriterGroupCommitOneSecret(b *testing.B) {
	secret.Add("sk-proj-bench0000000000000000000000000000000000")
	BenchmarkWriterGroupCommit(b)
}
