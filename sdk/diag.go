package sdk

import (
	"fmt"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// Severity of a diagnostic.
type Severity int

const (
	Error Severity = iota + 1
	Warning
)

// Diagnostic is a problem a plugin reports about its configuration or a call.
// Path points into the component's config block (cty.GetAttrPath("api_key"));
// the host turns it into the file:line of that attribute in the user's spec.
type Diagnostic struct {
	Severity Severity
	Summary  string
	Detail   string
	Path     cty.Path
}

// Diagnostics is a list of diagnostics; a nil list means "all well".
type Diagnostics []Diagnostic

// Errorf returns an error diagnostic at path. detail should say what to do.
func Errorf(path cty.Path, summary, detail string, args ...any) Diagnostic {
	return Diagnostic{Severity: Error, Summary: summary, Detail: fmt.Sprintf(detail, args...), Path: path}
}

// AttrError is Errorf for a top-level attribute of the config block.
func AttrError(attr, summary, detail string, args ...any) Diagnostic {
	return Errorf(cty.GetAttrPath(attr), summary, detail, args...)
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Append adds diagnostics and returns the list.
func (ds Diagnostics) Append(more ...Diagnostic) Diagnostics { return append(ds, more...) }

// Err folds the error diagnostics into one error, or nil.
func (ds Diagnostics) Err() error {
	var msgs []string
	for _, d := range ds {
		if d.Severity != Error {
			continue
		}
		m := d.Summary
		if p := PathString(d.Path); p != "" {
			m = p + ": " + m
		}
		if d.Detail != "" {
			m += ": " + d.Detail
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// PathString renders a cty path as HCL would write it: a.b[0]["k"].
func PathString(p cty.Path) string {
	var b strings.Builder
	for _, step := range p {
		switch s := step.(type) {
		case cty.GetAttrStep:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.Name)
		case cty.IndexStep:
			switch {
			case s.Key.Type() == cty.String:
				fmt.Fprintf(&b, "[%q]", s.Key.AsString())
			case s.Key.Type() == cty.Number:
				fmt.Fprintf(&b, "[%s]", s.Key.AsBigFloat().Text('f', -1))
			}
		}
	}
	return b.String()
}
