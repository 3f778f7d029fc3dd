package spec

import (
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Bounds on what a spec may ask of the parser. hclsyntax parses nested
// brackets and chains of operators by recursion, with no limit of its own:
// ~200k brackets or a 1M-term sum overflowed the Go stack and killed the
// process. The source is scanned (hclsyntax's lexer is a state machine,
// not recursive) and refused with a located diagnostic before it is
// parsed. The limits are far above anything written by hand.
const (
	// MaxSpecBytes caps one spec file.
	MaxSpecBytes = 4 << 20
	// maxNesting caps brackets, braces, parentheses and template
	// interpolations open at once.
	maxNesting = 128
	// maxOperators caps the operators (+ - * / % == != < <= > >= && || !
	// ?) in one expression: each is a level of recursion in the parser and
	// in evaluation.
	maxOperators = 10000
	// maxExprTokens caps the tokens of one expression (an attribute's
	// value, up to its end of line outside brackets).
	maxExprTokens = 200000
)

// readSpecFile reads a spec file: a regular file (a FIFO or a device
// would block or never end) of at most MaxSpecBytes.
func readSpecFile(path string) ([]byte, *hcl.Diagnostic) {
	fail := func(summary, detail string, args ...any) ([]byte, *hcl.Diagnostic) {
		return nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(detail, args...),
			Subject: &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}}
	}
	// Stat before opening: opening a FIFO blocks until someone writes.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return fail("Spec is not a regular file", "%q is a %s, not a regular file; polyglot reads specs from regular files only.", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return fail("Failed to read file", "The spec file %q could not be read: %v.", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail("Failed to read file", "The spec file %q could not be read: %v.", path, err)
	}
	if !st.Mode().IsRegular() {
		return fail("Spec is not a regular file", "%q is a %s, not a regular file; polyglot reads specs from regular files only.", path, st.Mode().Type())
	}
	if st.Size() > MaxSpecBytes {
		return fail("Spec file too large", "%q has %d bytes; a spec file may have at most %d. Keep large data (seed rows, prompts) in files the spec points to.", path, st.Size(), MaxSpecBytes)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSpecBytes+1))
	if err != nil {
		return fail("Failed to read file", "The spec file %q could not be read: %v.", path, err)
	}
	if len(b) > MaxSpecBytes {
		return fail("Spec file too large", "%q grew past %d bytes while it was read.", path, MaxSpecBytes)
	}
	return b, nil
}

// checkLimits scans src and returns a diagnostic at the first place that
// exceeds a limit, or nil.
func checkLimits(src []byte, filename string, start hcl.Pos) *hcl.Diagnostic {
	toks, _ := hclsyntax.LexConfig(src, filename, start)
	depth, exprDepth := 0, 0 // exprDepth: open brackets other than braces
	ops, n := 0, 0
	var exprStart hcl.Range
	for i := range toks {
		t := &toks[i]
		if n == 0 {
			exprStart = t.Range
		}
		n++
		switch t.Type {
		case hclsyntax.TokenOBrace:
			depth++
		case hclsyntax.TokenCBrace:
			depth--
		case hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl,
			hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
			depth++
			exprDepth++
		case hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenTemplateSeqEnd, hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
			depth--
			exprDepth--
		case hclsyntax.TokenPlus, hclsyntax.TokenMinus, hclsyntax.TokenStar, hclsyntax.TokenSlash, hclsyntax.TokenPercent,
			hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual, hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq,
			hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq, hclsyntax.TokenAnd, hclsyntax.TokenOr,
			hclsyntax.TokenBang, hclsyntax.TokenQuestion:
			ops++
		case hclsyntax.TokenNewline, hclsyntax.TokenEOF:
			if exprDepth <= 0 {
				ops, n, exprDepth = 0, 0, 0
			}
		}
		if depth > maxNesting {
			r := t.Range
			return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Nesting too deep",
				Detail:  fmt.Sprintf("More than %d brackets, braces, parentheses or template interpolations are open here. Flatten the expression, or move the data to a file the spec reads.", maxNesting),
				Subject: &r}
		}
		if ops > maxOperators || n > maxExprTokens {
			r := hcl.RangeBetween(exprStart, t.Range)
			what := fmt.Sprintf("more than %d operators", maxOperators)
			if n > maxExprTokens {
				what = fmt.Sprintf("more than %d tokens", maxExprTokens)
			}
			return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Expression too large",
				Detail:  fmt.Sprintf("This expression has %s. Split it up (locals), or move the data to a file the spec reads.", what),
				Subject: &r}
		}
	}
	return nil
}
