package spec

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var seedColumnsSpec = &blockSpec{attrs: []attrSpec{
	{name: "id", ty: cty.String, def: cty.StringVal("id")},
	{name: "prompt", ty: cty.String, def: cty.StringVal("prompt")},
	{name: "response", ty: cty.String, def: cty.StringVal("response")},
	{name: "language", ty: cty.String, def: cty.StringVal("language")},
	{name: "strategies", ty: cty.String, def: cty.StringVal("strategies")},
	{name: "tags", ty: cty.String, def: cty.StringVal("tags")},
}}

var seedsSpec = &blockSpec{
	attrs: []attrSpec{
		{name: "path", ty: cty.String, required: true},
		{name: "format", ty: cty.String},
		{name: "language", ty: cty.String},
	},
	blocks: []nestedSpec{{typeName: "columns", spec: seedColumnsSpec, max: 1}},
}

var seedFormats = []string{"jsonl", "csv", "parquet"}

func (l *loader) evalSeeds(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, seedsSpec, ctx)
	r := newReader(ev, &l.diags)
	s := &SeedSet{Name: n.name, DeclRange: n.block.DefRange, Ranges: r.ranges()}
	s.Path = r.str("path")
	if s.Path != "" {
		s.Files = r.existingFiles("path", l.read, s.Path)
	}
	s.Format = r.oneOf("format", "seed format", seedFormats...)
	if s.Format == "" && !r.has("format") && s.Path != "" {
		switch strings.ToLower(filepath.Ext(s.Path)) {
		case ".jsonl", ".ndjson":
			s.Format = "jsonl"
		case ".csv":
			s.Format = "csv"
		case ".parquet":
			s.Format = "parquet"
		default:
			r.errorf("path", "Unknown seed format", "Cannot tell the format of %q from its extension. Add format = \"jsonl\", \"csv\" or \"parquet\".", s.Path)
		}
	}
	s.Language = r.lang("language")
	c := r.sub("columns")
	s.Columns = SeedColumns{
		ID: c.str("id"), Prompt: c.str("prompt"), Response: c.str("response"),
		Language: c.str("language"), Strategies: c.str("strategies"), Tags: c.str("tags"),
	}
	l.seedSets[n.name] = s
}

// existingFiles resolves a path or glob relative to the spec folder and
// reports when nothing is there, or when a match is outside what the spec
// may read (paths.go) or not a regular file. Files are not opened.
func (r *reader) existingFiles(name string, read *readPolicy, p string) []string {
	dir := read.dir
	full := read.full(p)
	var files []string
	if strings.ContainsAny(p, "*?[") {
		matches, err := filepath.Glob(full)
		if err != nil {
			r.errorf(name, "Invalid glob pattern", "%q is not a valid pattern (%v).", p, err)
			return nil
		}
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && !st.IsDir() {
				files = append(files, m)
			}
		}
		if len(files) == 0 {
			r.errorf(name, "Seed data not found", "No file matches %q in %s. Paths are relative to the spec folder; check the pattern.", p, dir)
			return nil
		}
		sort.Strings(files)
	} else {
		st, err := os.Stat(full)
		switch {
		case err != nil:
			r.errorf(name, "Seed data not found", "There is no file %s. Paths are relative to the spec folder (%s); fix the path or create the file.", full, dir)
			return nil
		case st.IsDir():
			r.errorf(name, "Seed path is a folder", "%s is a folder; point at a file, or use a glob such as %q.", full, filepath.Join(p, "*.jsonl"))
			return nil
		}
		files = []string{full}
	}
	for _, f := range files {
		if err := read.check(f); err != nil {
			r.errorf(name, "Seed data outside the experiment folder", "%v.", err)
			return nil
		}
		if err := regular(f, 0); err != nil {
			r.errorf(name, "Seed data not a regular file", "%v.", err)
			return nil
		}
	}
	return files
}

// existingFile checks a single template-like file relative to the spec
// folder: there, allowed (paths.go), regular and at most MaxReadBytes.
func (r *reader) existingFile(name string, read *readPolicy, what string) string {
	p := r.str(name)
	if p == "" {
		if r.has(name) {
			r.errorf(name, "Empty "+what+" path", "%s must name a file relative to the spec folder.", name)
		}
		return ""
	}
	full := read.full(p)
	st, err := os.Stat(full)
	if err != nil || st.IsDir() {
		r.errorf(name, "Template file not found", "There is no file %s for %s. Paths are relative to the spec folder (%s); fix the path or create the file.", full, name, read.dir)
		return ""
	}
	if err := read.check(full); err != nil {
		r.errorf(name, "Template outside the experiment folder", "%v.", err)
		return ""
	}
	if err := regular(full, MaxReadBytes); err != nil {
		r.errorf(name, "Template not a regular file", "%v.", err)
		return ""
	}
	return full
}
