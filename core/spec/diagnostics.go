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
	for i, d := range diags {
		if i > 0 {
			fmt.Fprintln(w)
		}
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
}

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
		line := strings.TrimRight(sc.Text(), "\r")
		fmt.Fprintf(w, "  %5d | %s\n", n, line)
		// Underline the part of this line inside the range; columns are
		// counted in characters, as hcl.Pos does.
		from, to := 1, len([]rune(line))+1
		if n == rng.Start.Line {
			from = rng.Start.Column
		}
		if n == rng.End.Line {
			to = rng.End.Column
		}
		if to <= from {
			to = from + 1
		}
		pad := strings.Map(func(r rune) rune {
			if r == '\t' {
				return '\t'
			}
			return ' '
		}, string([]rune(line)[:min(from-1, len([]rune(line)))]))
		fmt.Fprintf(w, "        | %s%s\n", pad, paint("1;31", strings.Repeat("^", to-from)))
	}
}
