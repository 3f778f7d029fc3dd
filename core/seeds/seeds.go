// Package seeds reads an experiment's seed datasets (JSONL, CSV, Parquet)
// through the column mapping of a `seeds "name" {}` block and hands them
// out one row at a time, so a seed set of any size is never held in memory.
//
// Every problem in the data is reported as file:line plus what to do about
// it: a corrupt or truncated JSONL line, a CSV row with the wrong number of
// fields, a mapped column the file does not have (listing the columns it
// does have), an empty prompt, text that is not UTF-8, an unreadable
// Parquet file. JSON and CSV use the standard library; Parquet uses
// parquet-go.
package seeds

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// Row is one seed example.
type Row struct {
	ID         string // from the id column, or "<file base>:<line>" when absent
	Prompt     string
	Response   string
	Language   string
	Strategies []string // strategies the row may feed; empty = any
	Tags       []string
	File       string // the file as the user wrote it (relative to the spec when possible)
	Line       int    // 1-based line (JSONL, CSV) or row number (Parquet)
}

// Error is a problem at a place in a seed file.
type Error struct {
	File string
	Line int // 0 when the problem is the whole file
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Read calls fn for each row of every file of set, in file order then line
// order. It stops at the first data error (an *Error) or the first error fn
// returns (returned as is).
func Read(set *spec.SeedSet, fn func(Row) error) error {
	return read(set, func(r Row, _ int64) error { return fn(r) })
}

// read is Read that also passes where each row starts: the byte offset of
// its line (JSONL) or record (CSV), or its 0-based row number (Parquet).
func read(set *spec.SeedSet, fn func(Row, int64) error) error {
	if set == nil {
		return errors.New("seeds: nil seed set")
	}
	if len(set.Files) == 0 {
		return fmt.Errorf("seeds %q: no files to read (path %q matched nothing)", set.Name, set.Path)
	}
	m := newMapping(set)
	for _, f := range set.Files {
		if err := readFile(set, m, f, fn); err != nil {
			return err
		}
	}
	return nil
}

func readFile(set *spec.SeedSet, m *mapping, f string, fn func(Row, int64) error) error {
	name := displayName(set, f)
	switch set.Format {
	case "jsonl", "ndjson":
		return readJSONL(f, name, m, fn)
	case "csv":
		return readCSV(f, name, m, fn)
	case "parquet":
		return readParquet(f, name, m, fn)
	}
	return fmt.Errorf("seeds %q: unknown format %q; use format = \"jsonl\", \"csv\" or \"parquet\"", set.Name, set.Format)
}

// displayName shows the file as the user wrote it when the path is not a
// glob; otherwise relative to the working folder when that is shorter.
func displayName(set *spec.SeedSet, file string) string {
	if len(set.Files) == 1 && set.Path != "" && !strings.ContainsAny(set.Path, "*?[") {
		return set.Path
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, file); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return file
}

// mapping resolves the logical fields to column names.
type mapping struct {
	set                                          *spec.SeedSet
	id, prompt, response, lang, strategies, tags string
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func newMapping(set *spec.SeedSet) *mapping {
	c := set.Columns
	return &mapping{
		set:        set,
		id:         orDefault(c.ID, "id"),
		prompt:     orDefault(c.Prompt, "prompt"),
		response:   orDefault(c.Response, "response"),
		lang:       orDefault(c.Language, "language"),
		strategies: orDefault(c.Strategies, "strategies"),
		tags:       orDefault(c.Tags, "tags"),
	}
}

type field struct {
	logical, column, def string
}

func (m *mapping) fields() []field {
	return []field{
		{"id", m.id, "id"}, {"prompt", m.prompt, "prompt"}, {"response", m.response, "response"},
		{"language", m.lang, "language"}, {"strategies", m.strategies, "strategies"}, {"tags", m.tags, "tags"},
	}
}

// checkColumns reports the first mapped column the data lacks. The prompt
// is always needed; the language unless the block fixes one; any other
// column only when the user renamed it (an explicit mapping must match).
func (m *mapping) checkColumns(file string, line int, has func(string) bool, names []string) error {
	for _, f := range m.fields() {
		if has(f.column) {
			continue
		}
		required := f.logical == "prompt" || f.column != f.def || (f.logical == "language" && m.set.Language == "")
		if !required {
			continue
		}
		list := append([]string(nil), names...)
		sort.Strings(list)
		it := strings.Join(list, ", ")
		if it == "" {
			it = "no columns"
		}
		fix := fmt.Sprintf("fix `columns { %s = ... }` in seeds %q", f.logical, m.set.Name)
		if f.logical == "language" && f.column == f.def {
			fix = fmt.Sprintf("map it with `columns { language = ... }` or set `language = \"<tag>\"` in seeds %q", m.set.Name)
		}
		return &Error{File: file, Line: line, Msg: fmt.Sprintf("column %q not found; it has: %s — %s", f.column, it, fix)}
	}
	return nil
}

// build turns one record's values into a Row. get returns a column's raw
// value and whether the column exists.
func (m *mapping) build(file string, line int, get func(string) (any, bool)) (Row, error) {
	r := Row{File: file, Line: line}
	bad := func(msg string, a ...any) (Row, error) {
		return Row{}, &Error{File: file, Line: line, Msg: fmt.Sprintf(msg, a...)}
	}
	text := func(col string) (string, error) {
		v, ok := get(col)
		if !ok {
			return "", nil
		}
		s, err := scalarText(v)
		if err != nil {
			return "", fmt.Errorf("column %q %v", col, err)
		}
		return s, nil
	}
	var err error
	if r.ID, err = text(m.id); err != nil {
		return bad("%v; ids must be strings or numbers", err)
	}
	r.ID = strings.TrimSpace(r.ID)
	if r.ID == "" {
		r.ID = fmt.Sprintf("%s:%d", filepath.Base(file), line)
	}
	if r.Prompt, err = text(m.prompt); err != nil {
		return bad("%v; the prompt must be text", err)
	}
	if strings.TrimSpace(r.Prompt) == "" {
		return bad("empty prompt (column %q); fill it in or remove the row", m.prompt)
	}
	if r.Response, err = text(m.response); err != nil {
		return bad("%v; the response must be text", err)
	}
	if r.Language, err = text(m.lang); err != nil {
		return bad("%v; the language must be a BCP-47 tag such as \"de\"", err)
	}
	r.Language = strings.TrimSpace(r.Language)
	if r.Language == "" {
		r.Language = m.set.Language
	}
	if r.Language == "" {
		return bad("no language (column %q is empty); fill it in, or set `language = \"<tag>\"` in seeds %q when the whole file is one language", m.lang, m.set.Name)
	}
	for _, p := range []struct {
		col string
		dst *[]string
	}{{m.strategies, &r.Strategies}, {m.tags, &r.Tags}} {
		v, ok := get(p.col)
		if !ok {
			continue
		}
		l, err := listValue(v)
		if err != nil {
			return bad("column %q %v; use a JSON array of strings or a comma-separated string", p.col, err)
		}
		*p.dst = l
	}
	return r, nil
}

// scalarText converts a decoded value (JSON, CSV or Parquet) to text.
func scalarText(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float32:
		return formatFloat(float64(x)), nil
	case float64:
		return formatFloat(x), nil
	}
	return "", fmt.Errorf("holds %s, not a single value", kindOf(v))
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// listValue accepts a list of strings, or one string that is a JSON array
// or a comma/semicolon-separated list.
func listValue(v any) ([]string, error) {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		for _, e := range x {
			s, err := scalarText(e)
			if err != nil {
				return nil, fmt.Errorf("has an element that %v", err)
			}
			add(s)
		}
		return out, nil
	case []string:
		for _, s := range x {
			add(s)
		}
		return out, nil
	}
	s, err := scalarText(v)
	if err != nil {
		return nil, err
	}
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "[") {
		var arr []any
		if err := json.Unmarshal([]byte(t), &arr); err != nil {
			return nil, fmt.Errorf("looks like a JSON array but is not valid JSON (%v)", err)
		}
		return listValue(arr)
	}
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		add(p)
	}
	return out, nil
}
