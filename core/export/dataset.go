package export

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"
)

// Row is one example of a composed dataset (`export --compose`): the chat
// turns and where they came from. JSONL and Parquet carry the same fields.
type Row struct {
	Messages []Message `json:"messages" parquet:"messages,list"`
	ID       string    `json:"id" parquet:"id"`
	Language string    `json:"language" parquet:"language,dict"`
	// Split is "train" or "heldout", fixed per row by the dataset's split seed.
	Split    string `json:"split" parquet:"split,dict"`
	Teacher  string `json:"teacher" parquet:"teacher,dict"`
	Model    string `json:"model" parquet:"model,dict"`
	Strategy string `json:"strategy" parquet:"strategy,dict"`
	Seed     int64  `json:"seed" parquet:"seed"`
	// SeedRow is the id of the seed row the request was built from.
	SeedRow string `json:"seed_row" parquet:"seed_row"`
	// Params are the generation parameters the teacher was called with, as
	// JSON ("" when none were recorded).
	Params string `json:"params" parquet:"params"`
	// Metrics are the per-example metric values of this row that the
	// composition used (the cell's PG-Score and the language filter).
	Metrics []MetricValue `json:"metrics" parquet:"metrics,list"`
	System  string        `json:"system" parquet:"system,dict"`
}

// MetricValue is one per-example metric value of a Row.
type MetricValue struct {
	Metric string  `json:"metric" parquet:"metric,dict"`
	Value  float64 `json:"value" parquet:"value"`
}

// Splits of a composed dataset.
const (
	SplitTrain   = "train"
	SplitHeldOut = "heldout"
)

// DataPath is the folder-relative path of a composed dataset's file of one
// language and split, without extension ("data/de/train").
func DataPath(language, split string) string { return path.Join("data", language, split) }

// DatasetWriter writes a composed dataset into one folder: per language and
// split a JSONL and/or Parquet file (see DataPath), plus side files. As in
// Export, every file is written under a temporary name and renamed into
// place by Commit, and the folder is locked while it is written. Rows of a
// language may be written only until CloseLanguage, which frees that
// language's Parquet buffers: memory stays at one row group per open file.
type DatasetWriter struct {
	dir            string
	jsonl, parquet bool
	rgRows, rgLen  int
	lock           *os.File
	outs           []*atomicFile
	open           map[[2]string]*rowFiles
	closed         map[string]bool
	rows           map[[2]string]int
	streams        []*bufio.Writer
	buf            []byte
}

type rowFiles struct {
	j  *bufio.Writer
	pw *parquetRowSink
}

// NewDatasetWriter locks dir (creating it) and removes the temporary files
// a killed composition left there.
func NewDatasetWriter(dir string, jsonl, parquetOut bool) (*DatasetWriter, error) {
	if !jsonl && !parquetOut {
		return nil, fmt.Errorf("export: nothing to write; ask for JSONL, Parquet or both")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: cannot create the folder %s: %w", dir, err)
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("export: cannot write in %s: %w; check the folder's permissions", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("export: another export is writing into %s; wait for it to finish, or export elsewhere with --out", dir)
	}
	for _, pat := range []string{".*.tmp-*", "data/*/.*.tmp-*"} {
		stale, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range stale {
			os.Remove(p)
		}
	}
	return &DatasetWriter{dir: dir, jsonl: jsonl, parquet: parquetOut, rgRows: 20000, rgLen: 64 << 20, lock: f,
		open: map[[2]string]*rowFiles{}, closed: map[string]bool{}, rows: map[[2]string]int{}}, nil
}

// Write appends r to its language's and split's files.
func (w *DatasetWriter) Write(r *Row) error {
	k := [2]string{r.Language, r.Split}
	rf := w.open[k]
	if rf == nil {
		if w.closed[r.Language] {
			return fmt.Errorf("export: a row of %s after its files were closed", r.Language)
		}
		rf = &rowFiles{}
		base := filepath.Join(w.dir, filepath.FromSlash(DataPath(r.Language, r.Split)))
		if w.jsonl {
			f, err := w.create(base + ".jsonl")
			if err != nil {
				return err
			}
			rf.j = bufio.NewWriterSize(f, 1<<20)
		}
		if w.parquet {
			f, err := w.create(base + ".parquet")
			if err != nil {
				return err
			}
			rf.pw = newParquetRowSink(f, w.rgRows, w.rgLen)
		}
		w.open[k] = rf
	}
	w.rows[k]++
	if rf.j != nil {
		w.buf = appendRowJSON(w.buf[:0], r)
		if _, err := rf.j.Write(w.buf); err != nil {
			return fmt.Errorf("export: writing %s rows of %s: %w", r.Split, r.Language, err)
		}
	}
	if rf.pw != nil {
		if err := rf.pw.write(r); err != nil {
			return fmt.Errorf("export: writing %s rows of %s: %w", r.Split, r.Language, err)
		}
	}
	return nil
}

// Files lists the data files written so far, folder-relative and sorted,
// with their row counts.
func (w *DatasetWriter) Files() map[[2]string]int { return w.rows }

func (w *DatasetWriter) create(p string) (*atomicFile, error) {
	f, err := createAtomic(p)
	if err != nil {
		return nil, err
	}
	w.outs = append(w.outs, f)
	return f, nil
}

// CloseLanguage finishes the files of one language.
func (w *DatasetWriter) CloseLanguage(lang string) error {
	w.closed[lang] = true
	for _, split := range []string{SplitTrain, SplitHeldOut} {
		rf := w.open[[2]string{lang, split}]
		if rf == nil {
			continue
		}
		delete(w.open, [2]string{lang, split})
		if rf.j != nil {
			if err := rf.j.Flush(); err != nil {
				return fmt.Errorf("export: writing the %s rows of %s: %w", split, lang, err)
			}
		}
		if rf.pw != nil {
			if err := rf.pw.close(); err != nil {
				return fmt.Errorf("export: writing the %s rows of %s: %w", split, lang, err)
			}
		}
	}
	return nil
}

// WriteFile writes a side file (card, summary) at a folder-relative path.
func (w *DatasetWriter) WriteFile(rel string, data []byte) error {
	f, err := w.create(filepath.Join(w.dir, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("export: writing %s: %w", f.path, err)
	}
	return nil
}

// Stream opens a side file written as it goes (a list of dropped rows);
// Commit flushes it.
func (w *DatasetWriter) Stream(rel string) (*bufio.Writer, error) {
	f, err := w.create(filepath.Join(w.dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	w.streams = append(w.streams, bw)
	return bw, nil
}

// Commit closes every language and renames every file into place; it
// returns the paths written.
func (w *DatasetWriter) Commit() ([]string, error) {
	defer w.lock.Close()
	for _, s := range w.streams {
		if err := s.Flush(); err != nil {
			w.abortAll()
			return nil, fmt.Errorf("export: writing a side file: %w", err)
		}
	}
	langs := map[string]bool{}
	for k := range w.open {
		langs[k[0]] = true
	}
	for l := range langs {
		if err := w.CloseLanguage(l); err != nil {
			w.abortAll()
			return nil, err
		}
	}
	// fsync every file at once: one after the other, forty small files
	// took seconds on a busy disk.
	var g errgroup.Group
	g.SetLimit(16)
	for _, o := range w.outs {
		g.Go(func() error {
			if err := o.Sync(); err != nil {
				return fmt.Errorf("export: writing %s: %w", o.path, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		w.abortAll()
		return nil, err
	}
	var paths []string
	for i, o := range w.outs {
		if err := o.commit(); err != nil {
			for _, rest := range w.outs[i:] {
				rest.abort()
			}
			return nil, err
		}
		paths = append(paths, o.path)
	}
	slices.Sort(paths)
	return paths, nil
}

// Abort removes everything written and releases the folder.
func (w *DatasetWriter) Abort() {
	w.abortAll()
	w.lock.Close()
}

func (w *DatasetWriter) abortAll() {
	for _, o := range w.outs {
		o.abort()
	}
}

// parquetRowSink is parquetSink for Rows: it cuts a row group exactly when
// it reaches the row or byte bound.
type parquetRowSink struct {
	bw              *bufio.Writer
	w               *parquet.GenericWriter[Row]
	rows, bytes     int
	maxRows, maxLen int
	batch           []Row // rows not yet handed to w
}

func newParquetRowSink(f *atomicFile, maxRows, maxBytes int) *parquetRowSink {
	bw := bufio.NewWriterSize(f, 1<<20)
	w := parquet.NewGenericWriter[Row](bw,
		parquet.Compression(&parquet.Snappy),
		parquet.CreatedBy("polyglot", "1", "export"),
	)
	return &parquetRowSink{bw: bw, w: w, maxRows: maxRows, maxLen: maxBytes, batch: make([]Row, 0, 256)}
}

func (p *parquetRowSink) write(r *Row) error {
	p.batch = append(p.batch, *r)
	p.rows++
	p.bytes += len(r.ID) + len(r.Params) + len(r.System) + len(r.SeedRow) + 16*len(r.Metrics)
	for _, m := range r.Messages {
		p.bytes += len(m.Content)
	}
	cut := p.rows >= p.maxRows || p.bytes >= p.maxLen
	if len(p.batch) < cap(p.batch) && !cut {
		return nil
	}
	if err := p.flushBatch(); err != nil {
		return err
	}
	if cut {
		p.rows, p.bytes = 0, 0
		return p.w.Flush()
	}
	return nil
}

func (p *parquetRowSink) flushBatch() error {
	if len(p.batch) == 0 {
		return nil
	}
	_, err := p.w.Write(p.batch)
	clear(p.batch)
	p.batch = p.batch[:0]
	return err
}

func (p *parquetRowSink) close() error {
	if err := p.flushBatch(); err != nil {
		return err
	}
	if err := p.w.Close(); err != nil {
		return err
	}
	return p.bw.Flush()
}

// appendRowJSON appends r as one JSON line, as encoding/json (without HTML
// escaping) writes Row; TestAppendRowJSON holds it to that.
func appendRowJSON(b []byte, r *Row) []byte {
	b = appendMessagesJSON(b, r.Messages)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, r.ID)
	for _, f := range [...]struct{ k, v string }{{"language", r.Language}, {"split", r.Split}, {"teacher", r.Teacher}, {"model", r.Model}, {"strategy", r.Strategy}} {
		b = append(b, `,"`...)
		b = append(b, f.k...)
		b = append(b, `":`...)
		b = appendJSONString(b, f.v)
	}
	b = append(b, `,"seed":`...)
	b = strconv.AppendInt(b, r.Seed, 10)
	b = append(b, `,"seed_row":`...)
	b = appendJSONString(b, r.SeedRow)
	b = append(b, `,"params":`...)
	b = appendJSONString(b, r.Params)
	b = append(b, `,"metrics":`...)
	if r.Metrics == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, m := range r.Metrics {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendJSONString(b, m.Metric)
			b = append(b, `,"value":`...)
			b = appendJSONFloat(b, m.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"system":`...)
	b = appendJSONString(b, r.System)
	return append(b, "}\n"...)
}

// appendJSONFloat formats f as encoding/json does; the store holds no
// NaN or infinity, and they would not be JSON, so they become 0.
func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	abs := math.Abs(f)
	fmtc := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtc = 'e'
	}
	b = strconv.AppendFloat(b, f, fmtc, -1, 64)
	if fmtc == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
