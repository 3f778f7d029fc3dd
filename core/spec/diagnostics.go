package spec

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics prints diags as
//
//	file.hcl:12:5: error: Summary
//	   12 | teacher "x" { model = 3 }
//	      |                       ^
//	  Detail text.
//
// The file:line:col prefix is what editors and terminals link. hcl's own
// text writer prints "on file line N" without a column, hence this one.
// color adds ANSI colours. e may be nil (no source snippets then).
func (e *Experiment) WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, color bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	// A spec with thousands of the same mistake (5,000 bad language tags
	// printed 291 MB) gets the first maxPerKind of each kind in full and
	// one line saying how many more there are.
	type kind struct {
		sev     hcl.DiagnosticSeverity
		summary string
	}
	shown := map[kind]int{}
	more := map[kind]int{}
	first, last := map[kind]*hcl.Range{}, map[kind]*hcl.Range{}
	var order []kind
	printed := 0
	for _, d := range diags {
		k := kind{d.Severity, d.Summary}
		if shown[k] >= maxPerKind {
			if more[k] == 0 {
				order = append(order, k)
				first[k] = d.Subject
			}
			more[k]++
			last[k] = d.Subject
			continue
		}
		shown[k]++
		if printed > 0 {
			fmt.Fprintln(w)
		}
		printed++
		sev, code := "error", "1;31"
		if d.Severity == hcl.DiagWarning {
			sev, code = "warning", "1;33"
		}
		loc := ""
		if d.Subject != nil {
			loc = fmt.Sprintf("%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(w, "%s%s %s\n", paint("1", loc), paint(code, sev+":"), paint("1", d.Summary))
		if d.Subject != nil && e != nil {
			e.writeSnippet(w, *d.Subject, paint)
		}
		if d.Detail != "" {
			for _, line := range strings.Split(d.Detail, "\n") {
				fmt.Fprintf(w, "  %s\n", line)
			}
		}
	}
	for _, k := range order {
		sev, code, noun := "error", "1;31", "errors"
		if k.sev == hcl.DiagWarning {
			sev, code, noun = "warning", "1;33", "warnings"
		}
		loc, through := "", ""
		if r := first[k]; r != nil {
			loc = fmt.Sprintf("%s:%d:%d: ", r.Filename, r.Start.Line, r.Start.Column)
		}
		if r := last[k]; r != nil && more[k] > 1 {
			through = fmt.Sprintf(" (through %s:%d:%d)", r.Filename, r.Start.Line, r.Start.Column)
		}
		fmt.Fprintf(w, "\n%s%s %d more %s like this: %s%s\n", paint("1", loc), paint(code, sev+":"), more[k], noun, paint("1", k.summary), through)
	}
}

// maxPerKind is how many diagnostics with the same severity and summary
// are printed in full.
const maxPerKind = 10

// maxSnippet is the widest source line printed whole; a longer one is
// shown as a window around the range (a 39 KB line repeated per
// diagnostic was most of those 291 MB).
const maxSnippet = 160

func (e *Experiment) writeSnippet(w io.Writer, rng hcl.Range, paint func(string, string) string) {
	f := e.files[rng.Filename]
	if f == nil || len(f.Bytes) == 0 {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(f.Bytes))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if n < rng.Start.Line {
			continue
		}
		if n > rng.End.Line || n > rng.Start.Line+2 {
			break
		}
		runes := []rune(strings.TrimRight(sc.Text(), "\r"))
		// Underline the part of this line inside the range; columns are
		// counted in characters, as hcl.Pos does.
		from, to := 1, len(runes)+1
		if n == rng.Start.Line {
			from = rng.Start.Column
		}
		if n == rng.End.Line {
			to = rng.End.Column
		}
		if to <= from {
			to = from + 1
		}
		// A long line is cut to a window starting a little before the
		// range; columns stay the file's.
		lo, hi, pre, post := 0, len(runes), "", ""
		if len(runes) > maxSnippet {
			lo = max(0, min(from-1, len(runes))-maxSnippet/4)
			hi = min(len(runes), lo+maxSnippet)
			if lo > 0 {
				pre = "…"
			}
			if hi < len(runes) {
				post = "…"
			}
			to = min(to, hi+1)
			if to <= from {
				to = from + 1
			}
		}
		fmt.Fprintf(w, "  %5d | %s%s%s\n", n, pre, string(runes[lo:hi]), post)
		pad := strings.Map(func(r rune) rune {
			if r == '\t' {
				return '\t'
			}
			return ' '
		}, pre+string(runes[lo:max(lo, min(from-1, hi))]))
		fmt.Fprintf(w, "        | %s%s\n", pad, paint("1;31", strings.Repeat("^", to-from)))
	}
}
