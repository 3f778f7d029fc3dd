package seeds

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	gojson "github.com/goccy/go-json"
	"io"
	"os"
	"sort"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
)

var bom = []byte{0xEF, 0xBB, 0xBF}

func openErr(name string, err error) error {
	return &Error{File: name, Msg: fmt.Sprintf("cannot read the file (%v); check the path and its permissions", err)}
}

func notUTF8(name string, line int, b []byte) error {
	off := 0
	for off < len(b) {
		r, size := utf8.DecodeRune(b[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	return &Error{File: name, Line: line, Msg: fmt.Sprintf("not valid UTF-8 (bad byte 0x%02x at byte %d of the line); re-encode the file as UTF-8, e.g. `iconv -f <encoding> -t UTF-8`", b[off], off+1)}
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readJSONL reads one JSON object per line. Lines of any length are fine;
// blank lines are skipped.
func readJSONL(path, name string, m *mapping, fn func(Row, int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return openErr(name, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var off int64 // where the line starts
	for line := 1; ; line++ {
		b, rerr := br.ReadBytes('\n')
		start := off
		off += int64(len(b))
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return &Error{File: name, Line: line, Msg: fmt.Sprintf("read error (%v)", rerr)}
		}
		last := errors.Is(rerr, io.EOF)
		complete := len(b) > 0 && b[len(b)-1] == '\n'
		if line == 1 {
			b = bytes.TrimPrefix(b, bom)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(bytes.TrimSpace(b)) > 0 {
			if !utf8.Valid(b) {
				return notUTF8(name, line, b)
			}
			rec, err := decodeRecord(b)
			if err != nil {
				var ute *json.UnmarshalTypeError
				switch {
				case errors.As(err, &ute):
					return &Error{File: name, Line: line, Msg: fmt.Sprintf("the line is a JSON %s, not an object; each line must be one JSON object such as {\"prompt\": \"...\"}", ute.Value)}
				case !complete && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)):
					return &Error{File: name, Line: line, Msg: "truncated JSON: the file ends in the middle of this record; the file was probably cut off — download it again, or delete the last line"}
				default:
					return &Error{File: name, Line: line, Msg: fmt.Sprintf("invalid JSON (%v); each line must be one complete JSON object — fix or delete this line", err)}
				}
			}
			if rec == nil {
				return &Error{File: name, Line: line, Msg: "the line is JSON null, not an object; each line must be one JSON object"}
			}
			if err := m.checkColumns(name, line, func(c string) bool { _, ok := rec[c]; return ok }, keysOf(rec)); err != nil {
				return err
			}
			row, err := m.build(name, line, func(c string) (any, bool) { v, ok := rec[c]; return v, ok })
			if err != nil {
				return err
			}
			if err := fn(row, start); err != nil {
				return err
			}
		}
		if last {
			return nil
		}
	}
}

// readCSV reads a CSV file whose first row names the columns.
func readCSV(path, name string, m *mapping, fn func(Row, int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return openErr(name, err)
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return &Error{File: name, Msg: "the file is empty; a CSV seed file needs a header row naming its columns"}
	}
	if err != nil {
		return csvErr(name, err, 0)
	}
	header = append([]string(nil), header...)
	if len(header) > 0 {
		header[0] = string(bytes.TrimPrefix([]byte(header[0]), bom))
	}
	for _, h := range header {
		if !utf8.ValidString(h) {
			return notUTF8(name, 1, []byte(h))
		}
	}
	idx := map[string]int{}
	for i, h := range header {
		if _, dup := idx[h]; !dup {
			idx[h] = i
		}
	}
	if err := m.checkColumns(name, 1, func(c string) bool { _, ok := idx[c]; return ok }, header); err != nil {
		return err
	}
	for {
		start := cr.InputOffset()
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return csvErr(name, err, len(header))
		}
		line, _ := cr.FieldPos(0)
		for _, v := range rec {
			if !utf8.ValidString(v) {
				return notUTF8(name, line, []byte(v))
			}
		}
		row, err := m.build(name, line, func(c string) (any, bool) {
			i, ok := idx[c]
			if !ok {
				return nil, false
			}
			return rec[i], true
		})
		if err != nil {
			return err
		}
		if err := fn(row, start); err != nil {
			return err
		}
	}
}

func csvErr(name string, err error, want int) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return &Error{File: name, Msg: fmt.Sprintf("read error (%v)", err)}
	}
	if errors.Is(pe.Err, csv.ErrFieldCount) {
		return &Error{File: name, Line: pe.StartLine, Msg: fmt.Sprintf("this row does not have the header's %d fields; quote fields that contain commas, quotes or line breaks (\"a, b\")", want)}
	}
	return &Error{File: name, Line: pe.Line, Msg: fmt.Sprintf("malformed CSV at column %d (%v); quote the field and double any quote inside it (\"say \"\"hi\"\"\")", pe.Column, pe.Err)}
}

// readParquet reads rows as maps, 256 at a time. parquet-go panics on some
// malformed files; that is turned into an error naming the file.
func readParquet(path, name string, m *mapping, fn func(Row, int64) error) (rerr error) {
	f, err := os.Open(path)
	if err != nil {
		return openErr(name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return openErr(name, err)
	}
	unreadable := func(e any) error {
		return &Error{File: name, Msg: fmt.Sprintf("not a readable Parquet file (%v); check that it is complete (download it again) or convert it to JSONL", e)}
	}
	defer func() {
		if p := recover(); p != nil {
			rerr = unreadable(p)
		}
	}()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return unreadable(err)
	}
	var names []string
	has := map[string]bool{}
	for _, fld := range pf.Schema().Fields() {
		names = append(names, fld.Name())
		has[fld.Name()] = true
	}
	if err := m.checkColumns(name, 0, func(c string) bool { return has[c] }, names); err != nil {
		return err
	}
	r := parquet.NewGenericReader[map[string]any](pf, pf.Schema())
	defer r.Close()
	buf := make([]map[string]any, 256)
	rowNum := 0
	for {
		for i := range buf {
			buf[i] = map[string]any{}
		}
		n, err := r.Read(buf)
		for _, rec := range buf[:n] {
			rowNum++
			for _, c := range []string{m.id, m.prompt, m.response, m.lang} {
				if s, ok := rec[c].(string); ok && !utf8.ValidString(s) {
					return &Error{File: name, Line: rowNum, Msg: fmt.Sprintf("column %q is not valid UTF-8 in row %d; re-encode the data as UTF-8", c, rowNum)}
				}
			}
			row, berr := m.build(name, rowNum, func(c string) (any, bool) { v, ok := rec[c]; return v, ok && has[c] })
			if berr != nil {
				return berr
			}
			if ferr := fn(row, int64(rowNum-1)); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &Error{File: name, Line: rowNum + 1, Msg: fmt.Sprintf("cannot read Parquet row (%v); the file may be damaged — download it again or convert it to JSONL", err)}
		}
	}
}

// decodeRecord decodes one JSONL line into its columns (numbers as
// json.Number). Lines are decoded by goccy/go-json, a drop-in for
// encoding/json that took a million-row seed file from seconds to a
// fraction of that; a line it rejects is decoded again by encoding/json,
// whose errors the messages above explain, and whose verdict stands.
func decodeRecord(b []byte) (map[string]any, error) {
	var rec map[string]any
	fast := gojson.NewDecoder(bytes.NewReader(b))
	fast.UseNumber()
	if err := fast.Decode(&rec); err == nil && !fast.More() {
		return rec, nil
	}
	rec = nil
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	err := dec.Decode(&rec)
	if err == nil && dec.More() {
		err = errors.New("extra data after the object")
	}
	return rec, err
}
