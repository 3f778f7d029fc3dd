package seeds

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// Index locates every row of some seed sets without holding them: a run
// selects rows by what the index keeps (set, language, strategies, tags
// and the prompt's estimated tokens, shared between rows that have the
// same ones) and reads the rows it uses from the files when it uses them.
// A row costs 24 bytes of memory, whatever its text; a million-row seed
// file held as decoded rows cost over 500 MiB. Parquet rows are copied to
// a temporary file (see spool).
//
// Rows are numbered in the canonical order of seed selection: by set
// name, then id, then prompt, ties in file order. An Index is safe for
// concurrent use.
type Index struct {
	files   []*indexedFile
	rows    []entry
	classes []Class
	// spool holds the Parquet rows as JSON lines: reading one row of a
	// Parquet file means decoding a page of each column (milliseconds), so
	// they are copied once into this unlinked temporary file and read by
	// offset from there.
	spool *os.File
}

// Class is what decides whether a row feeds a strategy.
type Class struct {
	Set        string // the seeds block's name
	Language   string // the row's language, or the block's fixed one
	Strategies []string
	Tags       []string
}

type entry struct {
	off    int64  // the record's byte offset in its file (JSONL, CSV) or in the spool (Parquet)
	line   uint32 // 1-based line (JSONL, CSV) or row number (Parquet)
	tokens uint32 // EstimateTokens of the prompt
	class  uint32
	file   uint32
}

type indexedFile struct {
	m          *mapping
	path, name string
	format     string
	size       int64
	mod        time.Time

	once sync.Once
	f    *os.File
	err  error
	// CSV: the header's columns.
	csvIdx map[string]int
	csvN   int
	// Parquet: rows are read from the index's spool.
	spool *os.File
}

// spoolRow is a Parquet row in the spool.
type spoolRow struct {
	ID         string   `json:"i"`
	Prompt     string   `json:"p"`
	Response   string   `json:"r"`
	Language   string   `json:"l"`
	Strategies []string `json:"s,omitempty"`
	Tags       []string `json:"t,omitempty"`
}

// NewIndex reads every file of sets once, checking each row as Read does
// (the same errors, file:line first), and indexes the rows.
func NewIndex(sets []*spec.SeedSet) (*Index, error) {
	ix := &Index{}
	classIDs := map[string]uint32{}
	var key []byte
	var ids []byte // every row's id, end to end, for the sort
	var idEnd []int
	var spool *bufio.Writer
	var spoolOff int64
	for _, set := range sets {
		if set == nil {
			return nil, errors.New("seeds: nil seed set")
		}
		if len(set.Files) == 0 {
			return nil, fmt.Errorf("seeds %q: no files to read (path %q matched nothing)", set.Name, set.Path)
		}
		m := newMapping(set)
		for _, path := range set.Files {
			name := displayName(set, path)
			st, err := os.Stat(path)
			if err != nil {
				return nil, openErr(name, err)
			}
			fi := uint32(len(ix.files))
			file := &indexedFile{m: m, path: path, name: name, format: set.Format, size: st.Size(), mod: st.ModTime()}
			ix.files = append(ix.files, file)
			if set.Format == "parquet" && ix.spool == nil {
				if ix.spool, err = os.CreateTemp("", "polyglot-seeds-*.jsonl"); err != nil {
					return nil, fmt.Errorf("seeds: cannot make a temporary file for the rows of %s (%v); set TMPDIR to a writable folder", name, err)
				}
				os.Remove(ix.spool.Name()) // gone with the last descriptor, also on a crash
				spool = bufio.NewWriterSize(ix.spool, 1<<20)
			}
			file.spool = ix.spool
			err = readFile(set, m, path, func(r Row, off int64) error {
				if set.Format == "parquet" {
					b, err := gojson.Marshal(spoolRow{r.ID, r.Prompt, r.Response, r.Language, r.Strategies, r.Tags})
					if err != nil {
						return err
					}
					off = spoolOff
					spool.Write(append(b, '\n'))
					spoolOff += int64(len(b)) + 1
				}
				key = appendClassKey(key[:0], set.Name, &r)
				c, ok := classIDs[string(key)]
				if !ok {
					c = uint32(len(ix.classes))
					classIDs[string(key)] = c
					ix.classes = append(ix.classes, Class{Set: set.Name, Language: r.Language, Strategies: r.Strategies, Tags: r.Tags})
				}
				ids = append(ids, r.ID...)
				idEnd = append(idEnd, len(ids))
				ix.rows = append(ix.rows, entry{off: off, line: uint32(r.Line), tokens: uint32(min(EstimateTokens(r.Prompt), math.MaxUint32)), class: c, file: fi})
				return nil
			})
			if err != nil {
				ix.Close()
				return nil, err
			}
		}
	}
	if spool != nil {
		if err := spool.Flush(); err != nil {
			ix.Close()
			return nil, fmt.Errorf("seeds: cannot write the temporary copy of the Parquet rows (%v); set TMPDIR to a folder with room", err)
		}
	}
	if err := ix.sort(ids, idEnd); err != nil {
		ix.Close()
		return nil, err
	}
	return ix, nil
}

func appendClassKey(b []byte, set string, r *Row) []byte {
	b = append(append(append(append(b, set...), 0), r.Language...), 0)
	for _, s := range r.Strategies {
		b = append(append(b, s...), 1)
	}
	b = append(b, 0)
	for _, s := range r.Tags {
		b = append(append(b, s...), 1)
	}
	return b
}

// sort puts the rows in canonical order: set name, id, prompt, then file
// order (the order a stable sort of the read rows gives). Prompts are read
// back only for rows whose set and id are the same.
func (ix *Index) sort(ids []byte, idEnd []int) error {
	id := func(i int32) []byte {
		start := 0
		if i > 0 {
			start = idEnd[i-1]
		}
		return ids[start:idEnd[i]]
	}
	order := make([]int32, len(ix.rows))
	for i := range order {
		order[i] = int32(i)
	}
	bySetID := func(a, b int32) int {
		if c := strings.Compare(ix.classes[ix.rows[a].class].Set, ix.classes[ix.rows[b].class].Set); c != 0 {
			return c
		}
		return bytes.Compare(id(a), id(b))
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := bySetID(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for start := 0; start < len(order); {
		end := start + 1
		for end < len(order) && bySetID(order[start], order[end]) == 0 {
			end++
		}
		if end-start > 1 {
			run := order[start:end]
			prompts := make(map[int32]string, len(run))
			for _, i := range run {
				r, err := ix.read(&ix.rows[i])
				if err != nil {
					return err
				}
				prompts[i] = r.Prompt
			}
			slices.SortFunc(run, func(a, b int32) int {
				if c := strings.Compare(prompts[a], prompts[b]); c != 0 {
					return c
				}
				return cmp.Compare(a, b)
			})
		}
		start = end
	}
	// Put rows[order[k]] at k in place, cycle by cycle (a sorted copy
	// would be another 24 bytes a row at the peak of the run's memory).
	for k := range order {
		if order[k] < 0 || int(order[k]) == k {
			continue
		}
		tmp := ix.rows[k]
		j := k
		for {
			next := int(order[j])
			order[j] = -1
			if next == k {
				ix.rows[j] = tmp
				break
			}
			ix.rows[j] = ix.rows[next]
			j = next
		}
	}
	return nil
}

// Len is the number of rows.
func (ix *Index) Len() int { return len(ix.rows) }

// Classes are the distinct classes of the rows; ClassOf(i) indexes them.
func (ix *Index) Classes() []Class { return ix.classes }

// ClassOf is the class of row i.
func (ix *Index) ClassOf(i int) int { return int(ix.rows[i].class) }

// PromptTokens is EstimateTokens of row i's prompt.
func (ix *Index) PromptTokens(i int) int { return int(ix.rows[i].tokens) }

// Row reads row i from its file.
func (ix *Index) Row(i int) (Row, error) { return ix.read(&ix.rows[i]) }

// Each reads, in file order, the rows whose class keep accepts.
func (ix *Index) Each(keep func(*Class) bool, fn func(Row) error) error {
	ok := make([]bool, len(ix.classes))
	for c := range ix.classes {
		ok[c] = keep(&ix.classes[c])
	}
	var sel []int32
	for i := range ix.rows {
		if ok[ix.rows[i].class] {
			sel = append(sel, int32(i))
		}
	}
	slices.SortFunc(sel, func(a, b int32) int {
		ea, eb := &ix.rows[a], &ix.rows[b]
		if c := cmp.Compare(ea.file, eb.file); c != 0 {
			return c
		}
		return cmp.Compare(ea.off, eb.off)
	})
	// JSONL rows are read through one buffer per file, moving forward:
	// a system call per row cost more than decoding it.
	var seq *bufio.Reader
	var seqFile uint32
	var pos int64
	for _, i := range sel {
		e := &ix.rows[i]
		f := ix.files[e.file]
		var r Row
		var err error
		if f.format == "csv" || f.format == "parquet" {
			r, err = ix.read(e)
		} else {
			if err := f.open(); err != nil {
				return err
			}
			if seq == nil || seqFile != e.file || pos > e.off {
				seq, seqFile, pos = bufio.NewReaderSize(io.NewSectionReader(f.f, e.off, f.size-e.off), 64<<10), e.file, e.off
			}
			if _, err := seq.Discard(int(e.off - pos)); err != nil {
				return f.changed(int(e.line), err.Error())
			}
			b, rerr := seq.ReadBytes('\n')
			pos = e.off + int64(len(b))
			if rerr != nil && !errors.Is(rerr, io.EOF) {
				return &Error{File: f.name, Line: int(e.line), Msg: fmt.Sprintf("read error (%v)", rerr)}
			}
			r, err = f.parseJSONL(b, int(e.line))
		}
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the files the index has read rows from.
func (ix *Index) Close() error {
	var first error
	for _, f := range ix.files {
		f.once.Do(func() { f.err = errors.New("seeds: index closed") })
		if f.f != nil {
			if err := f.f.Close(); err != nil && first == nil {
				first = err
			}
			f.f = nil
		}
	}
	if ix.spool != nil {
		ix.spool.Close()
		ix.spool = nil
	}
	return first
}

func (ix *Index) read(e *entry) (Row, error) {
	f := ix.files[e.file]
	if err := f.open(); err != nil {
		return Row{}, err
	}
	switch f.format {
	case "csv":
		return f.readCSVAt(e.off, int(e.line))
	case "parquet":
		return f.readParquetAt(e.off, int(e.line))
	}
	return f.readJSONLAt(e.off, int(e.line))
}

// open opens the file on first use and checks that it is the file that
// was indexed: rows are found by offset, so a file edited since would
// give other rows, or none.
func (f *indexedFile) open() error {
	f.once.Do(func() {
		if f.format == "parquet" {
			return // read from the spool
		}
		fh, err := os.Open(f.path)
		if err != nil {
			f.err = openErr(f.name, err)
			return
		}
		st, err := fh.Stat()
		if err != nil {
			fh.Close()
			f.err = openErr(f.name, err)
			return
		}
		if st.Size() != f.size || !st.ModTime().Equal(f.mod) {
			fh.Close()
			f.err = &Error{File: f.name, Msg: "the file changed while the run was using it; run again to read it afresh (requests already made from the old rows stay in the store)"}
			return
		}
		f.f = fh
		if f.format == "csv" {
			f.err = f.openCSV()
		}
	})
	return f.err
}

func (f *indexedFile) changed(line int, what string) error {
	return &Error{File: f.name, Line: line, Msg: fmt.Sprintf("cannot read the row again (%s); the file was probably changed while the run used it — run again to read it afresh", what)}
}

func (f *indexedFile) readJSONLAt(off int64, line int) (Row, error) {
	buf, err := readLineAt(f.f, off)
	if err != nil {
		return Row{}, &Error{File: f.name, Line: line, Msg: fmt.Sprintf("read error (%v)", err)}
	}
	return f.parseJSONL(buf, line)
}

// readLineAt reads from off to the end of the line (without the newline).
func readLineAt(r io.ReaderAt, off int64) ([]byte, error) {
	buf := make([]byte, 0, 1024)
	for chunk := 1024; ; chunk *= 2 {
		n := len(buf)
		buf = slices.Grow(buf, chunk)[:n+chunk]
		k, err := r.ReadAt(buf[n:], off+int64(n))
		buf = buf[:n+k]
		if i := bytes.IndexByte(buf[n:], '\n'); i >= 0 {
			return buf[:n+i], nil
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (f *indexedFile) parseJSONL(buf []byte, line int) (Row, error) {
	if line == 1 {
		buf = bytes.TrimPrefix(buf, bom)
	}
	rec, err := decodeRecord(bytes.TrimRight(buf, "\r\n"))
	if err != nil || rec == nil {
		return Row{}, f.changed(line, fmt.Sprintf("not a JSON object: %v", err))
	}
	return f.m.build(f.name, line, func(c string) (any, bool) { v, ok := rec[c]; return v, ok })
}

func (f *indexedFile) openCSV() error {
	cr := csv.NewReader(io.NewSectionReader(f.f, 0, f.size))
	header, err := cr.Read()
	if err != nil {
		return f.changed(1, fmt.Sprintf("header: %v", err))
	}
	if len(header) > 0 {
		header[0] = string(bytes.TrimPrefix([]byte(header[0]), bom))
	}
	f.csvIdx = map[string]int{}
	for i, h := range header {
		if _, dup := f.csvIdx[h]; !dup {
			f.csvIdx[h] = i
		}
	}
	f.csvN = len(header)
	return nil
}

func (f *indexedFile) readCSVAt(off int64, line int) (Row, error) {
	cr := csv.NewReader(io.NewSectionReader(f.f, off, f.size-off))
	cr.FieldsPerRecord = f.csvN
	rec, err := cr.Read()
	if err != nil {
		return Row{}, f.changed(line, err.Error())
	}
	return f.m.build(f.name, line, func(c string) (any, bool) {
		i, ok := f.csvIdx[c]
		if !ok {
			return nil, false
		}
		return rec[i], true
	})
}

func (f *indexedFile) readParquetAt(off int64, line int) (Row, error) {
	buf, err := readLineAt(f.spool, off)
	if err != nil {
		return Row{}, fmt.Errorf("seeds: reading the temporary copy of %s:%d: %w", f.name, line, err)
	}
	var r spoolRow
	if err := gojson.Unmarshal(buf, &r); err != nil {
		return Row{}, fmt.Errorf("seeds: reading the temporary copy of %s:%d: %w", f.name, line, err)
	}
	return Row{ID: r.ID, Prompt: r.Prompt, Response: r.Response, Language: r.Language, Strategies: r.Strategies, Tags: r.Tags, File: f.name, Line: line}, nil
}

// EstimateTokens is a tokenizer-free upper-ish estimate of a text's
// tokens: a token per four bytes of Latin script, per character of scripts
// written without spaces, whichever is more.
func EstimateTokens(s string) int {
	byBytes := (len(s) + 3) / 4
	wide := 0
	for _, r := range s {
		if r >= 0x2E80 { // CJK and other scripts written without spaces
			wide++
		}
	}
	return max(byBytes, wide)
}
