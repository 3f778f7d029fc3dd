package spec

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// A spec reads files (file(), template, system, seeds path) only inside
// its own folder unless the reader is told otherwise: a shared spec
// could otherwise read file("../../../etc/shadow") or ~/.ssh and send it
// to a teacher API or store it. Other folders are allowed by
//   - experiment { allow_read = ["../shared-data"] } (literal paths,
//     relative to the spec folder),
//   - the --allow-read DIR flag (LoadOptions.AllowRead), and
//   - a path the user passes as a -var value (or POLYGLOT_VAR_), which
//     they named themselves.
// Symbolic links are followed before the check, so a link inside the
// folder cannot point out of it. Only regular files are read (a FIFO or
// /dev/zero would block or never end), and file(), template and system
// files at most MaxReadBytes.

// MaxReadBytes caps a file read by file() or used as a template.
const MaxReadBytes = 16 << 20

// readPolicy is the set of folders (or single files) a spec may read.
type readPolicy struct {
	dir   string   // the spec folder, as given (absolute)
	roots []string // allowed, absolute, symlinks resolved
}

func newReadPolicy(dir string) *readPolicy {
	p := &readPolicy{dir: dir}
	p.allow(dir)
	return p
}

// allow adds a folder or file (absolute, or relative to the spec folder)
// that exists; a missing one allows nothing.
func (p *readPolicy) allow(path string) bool {
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.dir, path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false
	}
	p.roots = append(p.roots, filepath.Clean(real))
	return true
}

// full resolves path against the spec folder.
func (p *readPolicy) full(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(p.dir, path)
}

// check returns nil when full (an existing path) lies inside an allowed
// root after resolving symbolic links, else an error saying how to allow
// it. A path that does not exist is left to the caller's "not found".
func (p *readPolicy) check(full string) error {
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return nil
	}
	for _, r := range p.roots {
		rel, err := filepath.Rel(r, real)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	shown := full
	if real != full {
		shown = fmt.Sprintf("%s (which is %s)", full, real)
	}
	return fmt.Errorf("%s is outside the experiment folder %s, and a spec reads only files inside its folder unless told otherwise. "+
		"If this file is meant to be read, allow its folder in the spec: experiment { allow_read = [%q] }, or pass --allow-read %s",
		shown, p.dir, suggestAllow(p.dir, filepath.Dir(full)), filepath.Dir(real))
}

// suggestAllow is dir written relative to the spec folder when that is
// shorter, as a user would write it in allow_read.
func suggestAllow(specDir, dir string) string {
	if rel, err := filepath.Rel(specDir, dir); err == nil && len(rel) < len(dir) {
		return filepath.ToSlash(rel)
	}
	return dir
}

// regular returns an error unless full is a regular file (after links) of
// at most max bytes (0: no cap).
func regular(full string, max int64) error {
	st, err := os.Stat(full)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (it is a %s); polyglot reads regular files only", full, modeName(st.Mode()))
	}
	if max > 0 && st.Size() > max {
		return fmt.Errorf("%s has %d bytes, more than the %d a spec may read this way; keep large data in seed files", full, st.Size(), max)
	}
	return nil
}

func modeName(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "folder"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeDevice != 0 || m&os.ModeCharDevice != 0:
		return "device"
	case m&os.ModeSocket != 0:
		return "socket"
	}
	return m.Type().String()
}

// readCapped reads a regular file of at most max bytes.
func readCapped(full string, max int64) ([]byte, error) {
	if err := regular(full, max); err != nil {
		return nil, err
	}
	f, err := os.Open(full)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s grew past %d bytes while it was read", full, max)
	}
	return b, nil
}

// allowReadFromSpec reads experiment { allow_read = [...] } before
// anything is evaluated (file() may run in any block). The list must be
// literal: a variable would let a default widen what the spec reads.
func (l *loader) allowReadFromSpec(blocks []*hcl.Block) {
	for _, blk := range blocks {
		content, _, _ := blk.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "allow_read"}}})
		a := content.Attributes["allow_read"]
		if a == nil {
			continue
		}
		v, d := a.Expr.Value(nil)
		if d.HasErrors() || v.IsNull() || !v.CanIterateElements() {
			l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid allow_read",
				Detail:  "allow_read must be a list of literal paths, e.g. allow_read = [\"../shared-data\"], relative to the spec folder: a variable or function here could widen what the spec reads. To allow a folder for one run, pass --allow-read DIR.",
				Subject: a.Expr.Range().Ptr()})
			continue
		}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() || e.Type() != cty.String {
				l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid allow_read",
					Detail: "allow_read must list paths as strings.", Subject: a.Expr.Range().Ptr()})
				continue
			}
			if !l.read.allow(e.AsString()) {
				// A warning: a copied spec folder may lack a shared
				// folder it does not use (its data then comes by -var).
				l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "allow_read path not found",
					Detail:  fmt.Sprintf("%s does not exist, so it allows nothing; allow_read lists folders (or files) relative to the spec folder %s.", l.read.full(e.AsString()), l.e.Dir),
					Subject: a.Expr.Range().Ptr()})
			}
		}
	}
}

// allowReadFromUser allows the --allow-read folders.
func (l *loader) allowReadFromUser() {
	for _, p := range l.opts.AllowRead {
		abs, err := filepath.Abs(p)
		if err != nil || !l.read.allow(abs) {
			l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "--allow-read path not found",
				Detail: fmt.Sprintf("--allow-read %s: there is no such file or folder.", p)})
		}
	}
}

// allowUserPath allows a -var or POLYGLOT_VAR_ value that names a file or
// folder (relative values resolve against the spec folder, as spec paths
// do; a glob allows its folder). The user named it; a default in the spec
// does not count.
func (l *loader) allowUserPath(v string) {
	if v == "" || strings.ContainsAny(v, "\n\x00") {
		return
	}
	if strings.ContainsAny(v, "*?[") {
		v = filepath.Dir(v)
	}
	l.read.allow(v)
}
