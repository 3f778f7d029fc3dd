// Package export streams a store's examples to the files people train on:
// Hugging Face chat JSONL, Parquet (parquet-go, bounded row groups), a
// dataset card (README.md with YAML front matter that `datasets` reads),
// and side files for what does not belong in a card (per-cell metric
// values, the licence note).
//
// All outputs are produced in one pass over the store's ordered iterator,
// so memory stays bounded by one Parquet row group whatever the dataset
// size. Each file is written under a temporary name in its destination
// folder and renamed into place only when every output succeeded, so a
// reader never sees a half-written export. An export holds an flock on its
// output folders while it writes, and removes the temporary files that a
// killed export left there first. Output is deterministic: the
// same store gives byte-identical files (the store's order is total, maps
// are sorted before printing, and nothing time-dependent is written).
package export

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/polyglot-teachers/polyglot/core/store"
)

// Source is where examples come from; *store.Store implements it.
type Source interface {
	Examples(f store.Filter, fn func(*store.Example) error) error
}

// textSource is a Source with a cheaper iterator that fills only the
// fields an export needs (*store.Store has one).
type textSource interface {
	ExampleTexts(f store.Filter, fn func(*store.Example) error) error
}

// Options say what to export and where. At least one of JSONL, Parquet and
// Card must be set.
type Options struct {
	Filter  store.Filter
	JSONL   string // Hugging Face chat JSONL path; "" = none
	Parquet string // Parquet path; "" = none
	Card    string // dataset card (README.md) path; "" = none
	// MetricsFile is the CSV of per-cell metric values the card links to
	// (written only with a card and Metrics); "" = none.
	MetricsFile string
	// LicenseFile is the licence note written when License is "other"
	// without a LicenseLink; "" = none.
	LicenseFile string

	// RowGroupRows and RowGroupBytes bound a Parquet row group (defaults
	// 20,000 rows and 64 MiB of text): the writer holds one in memory.
	RowGroupRows  int
	RowGroupBytes int

	// Dataset card contents.
	Name    string // dataset title; default "polyglot synthetic SFT data"
	License string // Hugging Face license id; default "other"
	// LicenseName and LicenseLink are the card's license_name and
	// license_link, which the Hub asks for when License is "other".
	LicenseName, LicenseLink string
	Description              string                  // free text under the title
	Metrics                  []store.MetricAggregate // metric values for MetricsFile
	// Partial marks a dataset exported while its run was still writing.
	Partial bool

	// System gives an example's system prompt ("" = none); SystemTurn
	// also puts it first in messages.
	System     func(*store.Example) string
	SystemTurn bool

	// Controls names the teachers whose data is a negative control ("control") or a
	// control's uncorrupted reference data ("reference"). Their rows are not training
	// data and are left out unless IncludeControls, which exports them with their role
	// in the control field and lists them in the card.
	Controls        map[string]string
	IncludeControls bool
}

// CellCount is the number of examples of one (teacher, language, strategy).
type CellCount struct {
	Teacher, Language, Strategy string
	Examples                    int
}

// Result describes what was exported.
type Result struct {
	Examples   int
	Teachers   []string // sorted
	Languages  []string
	Strategies []string
	Cells      []CellCount // sorted by teacher, language, strategy
	Systems    []SystemPrompt
	Files      []string // final paths written
	// LeftOut counts, per control or reference teacher, the rows not exported.
	LeftOut map[string]int
}

// SystemPrompt is one distinct system prompt of the exported rows.
type SystemPrompt struct{ Language, Strategy, Text string }

type sysKey struct{ lang, strategy, text string }

// sideFile is a small output rendered once the rows are counted.
type sideFile struct {
	path string
	data func() []byte
}

// Message is one chat turn.
type Message struct {
	Role    string `json:"role" parquet:"role"`
	Content string `json:"content" parquet:"content"`
}

// Record is one exported example; JSONL and Parquet carry the same fields.
type Record struct {
	Messages []Message `json:"messages" parquet:"messages,list"`
	Teacher  string    `json:"teacher" parquet:"teacher,dict"`
	Language string    `json:"language" parquet:"language,dict"`
	Strategy string    `json:"strategy" parquet:"strategy,dict"`
	ID       string    `json:"id" parquet:"id"`
	// System is the system prompt the teacher answered under.
	System string `json:"system,omitempty" parquet:"system,dict"`
	// Control is "control" or "reference" for the rows of negative controls and their
	// reference data (exported only on request); empty for training data.
	Control string `json:"control,omitempty" parquet:"control,optional,dict"`
}

// Export writes the requested files in one pass over src.
func Export(src Source, opts Options) (*Result, error) {
	if opts.JSONL == "" && opts.Parquet == "" && opts.Card == "" {
		return nil, errors.New("export: nothing to write; give a JSONL, Parquet or card path")
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = 20000
	}
	if opts.RowGroupBytes <= 0 {
		opts.RowGroupBytes = 64 << 20
	}
	unlock, err := lockOutputs(opts)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var outs []*atomicFile
	cleanup := func() {
		for _, o := range outs {
			o.abort()
		}
	}
	open := func(path string) (*atomicFile, error) {
		f, err := createAtomic(path)
		if err != nil {
			cleanup()
			return nil, err
		}
		outs = append(outs, f)
		return f, nil
	}

	var jw *jsonlSink
	var pw *parquetSink
	if opts.JSONL != "" {
		f, err := open(opts.JSONL)
		if err != nil {
			return nil, err
		}
		jw = newJSONLSink(f)
	}
	if opts.Parquet != "" {
		f, err := open(opts.Parquet)
		if err != nil {
			return nil, err
		}
		pw = newParquetSink(f, opts.RowGroupRows, opts.RowGroupBytes)
	}

	// Reading the store, encoding JSONL and encoding Parquet run in three
	// goroutines connected by channels of record batches, so the export
	// uses both cores; batches are read-only once sent.
	type ck struct{ t, l, s string }
	counts := map[ck]int{}
	leftOut := map[string]int{}
	total := 0
	systems := map[sysKey]bool{}
	var sinks []chan []Record
	g, ctx := errgroup.WithContext(context.Background())
	if jw != nil {
		ch := make(chan []Record, 4)
		sinks = append(sinks, ch)
		g.Go(func() error {
			for batch := range ch {
				for i := range batch {
					if err := jw.write(&batch[i]); err != nil {
						return fmt.Errorf("writing %s: %w", opts.JSONL, err)
					}
				}
			}
			if err := jw.close(); err != nil {
				return fmt.Errorf("writing %s: %w", opts.JSONL, err)
			}
			return nil
		})
	}
	if pw != nil {
		ch := make(chan []Record, 4)
		sinks = append(sinks, ch)
		g.Go(func() error {
			for batch := range ch {
				if err := pw.write(batch); err != nil {
					return fmt.Errorf("writing %s: %w", opts.Parquet, err)
				}
			}
			if err := pw.close(); err != nil {
				return fmt.Errorf("writing %s: %w", opts.Parquet, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer func() {
			for _, ch := range sinks {
				close(ch)
			}
		}()
		const batchSize = 256
		batch := make([]Record, 0, batchSize)
		send := func() error {
			for _, ch := range sinks {
				select {
				case ch <- batch:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			batch = make([]Record, 0, batchSize)
			return nil
		}
		iter := src.Examples
		if lt, ok := src.(textSource); ok {
			iter = lt.ExampleTexts
		}
		err := iter(opts.Filter, func(e *store.Example) error {
			role := opts.Controls[e.Teacher]
			if role != "" && !opts.IncludeControls {
				leftOut[e.Teacher]++
				return nil
			}
			r := Record{Teacher: e.Teacher, Language: e.Language, Strategy: e.Strategy, ID: e.Key, Control: role}
			if opts.System != nil {
				r.System = opts.System(e)
			}
			if opts.SystemTurn && r.System != "" {
				r.Messages = []Message{{Role: "system", Content: r.System}, {Role: "user", Content: e.Prompt}, {Role: "assistant", Content: e.Response}}
			} else {
				r.Messages = []Message{{Role: "user", Content: e.Prompt}, {Role: "assistant", Content: e.Response}}
			}
			if r.System != "" {
				systems[sysKey{e.Language, e.Strategy, r.System}] = true
			}
			batch = append(batch, r)
			counts[ck{e.Teacher, e.Language, e.Strategy}]++
			total++
			if len(batch) == batchSize {
				return send()
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			err = send()
		}
		return err
	})
	if err := g.Wait(); err != nil {
		cleanup()
		return nil, err
	}

	res := &Result{Examples: total}
	if len(leftOut) > 0 {
		res.LeftOut = leftOut
	}
	tset, lset, sset := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for k, n := range counts {
		res.Cells = append(res.Cells, CellCount{k.t, k.l, k.s, n})
		tset[k.t], lset[k.l], sset[k.s] = true, true, true
	}
	slices.SortFunc(res.Cells, func(a, b CellCount) int {
		return cmp.Or(strings.Compare(a.Teacher, b.Teacher), strings.Compare(a.Language, b.Language), strings.Compare(a.Strategy, b.Strategy))
	})
	res.Teachers, res.Languages, res.Strategies = sortedKeys(tset), sortedKeys(lset), sortedKeys(sset)
	for k := range systems {
		res.Systems = append(res.Systems, SystemPrompt{Language: k.lang, Strategy: k.strategy, Text: k.text})
	}
	slices.SortFunc(res.Systems, func(a, b SystemPrompt) int {
		return cmp.Or(strings.Compare(a.Language, b.Language), strings.Compare(a.Strategy, b.Strategy), strings.Compare(a.Text, b.Text))
	})

	if opts.Card != "" {
		side := []sideFile{{opts.Card, func() []byte { return Card(res, opts) }}}
		if opts.MetricsFile != "" && len(opts.Metrics) > 0 {
			side = append(side, sideFile{opts.MetricsFile, func() []byte { return MetricsCSV(opts.Metrics) }})
		}
		if opts.LicenseFile != "" && licenseIsOther(opts) && opts.LicenseLink == "" {
			side = append(side, sideFile{opts.LicenseFile, func() []byte { return LicenseNote(res, opts) }})
		}
		for _, sf := range side {
			f, err := open(sf.path)
			if err != nil {
				return nil, err
			}
			if _, err := f.Write(sf.data()); err != nil {
				cleanup()
				return nil, fmt.Errorf("writing %s: %w", sf.path, err)
			}
		}
	}
	// Commit: every output is complete; rename them into place.
	for i, o := range outs {
		if err := o.commit(); err != nil {
			for _, rest := range outs[i:] {
				rest.abort()
			}
			return nil, err
		}
		res.Files = append(res.Files, o.path)
	}
	return res, nil
}

// lockOutputs takes an flock on every output folder, so two exports never
// write into one folder at once, and then removes the temporary files a
// killed export left behind (only an export under this lock writes them).
func lockOutputs(opts Options) (func(), error) {
	dirs := map[string][]string{} // folder -> base names of its outputs
	for _, p := range []string{opts.JSONL, opts.Parquet, opts.Card, opts.MetricsFile, opts.LicenseFile} {
		if p != "" {
			dirs[filepath.Dir(p)] = append(dirs[filepath.Dir(p)], filepath.Base(p))
		}
	}
	var held []*os.File
	release := func() {
		for _, f := range held {
			f.Close()
		}
	}
	for dir, bases := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			release()
			return nil, fmt.Errorf("export: cannot create the folder %s: %w", dir, err)
		}
		// The lock is on the folder itself, so an export leaves no lock
		// file in a dataset folder that gets uploaded as it is.
		f, err := os.Open(dir)
		if err != nil {
			release()
			return nil, fmt.Errorf("export: cannot write in %s: %w; check the folder's permissions", dir, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			release()
			return nil, fmt.Errorf("export: another export is writing into %s; wait for it to finish, or export elsewhere with --out", dir)
		}
		held = append(held, f)
		for _, b := range bases {
			stale, _ := filepath.Glob(filepath.Join(dir, "."+b+".tmp-*"))
			for _, p := range stale {
				os.Remove(p)
			}
		}
	}
	return release, nil
}

func licenseIsOther(opts Options) bool {
	return opts.License == "" || strings.EqualFold(opts.License, "other")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// atomicFile is written under a temporary name and renamed on commit.
type atomicFile struct {
	*os.File
	path string
	done bool
}

func createAtomic(path string) (*atomicFile, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: cannot create the folder %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("export: cannot write in %s: %w; check the folder's permissions and free space", dir, err)
	}
	return &atomicFile{File: f, path: path}, nil
}

func (a *atomicFile) commit() error {
	if err := a.Sync(); err != nil {
		a.abort()
		return fmt.Errorf("export: writing %s: %w", a.path, err)
	}
	if err := a.Close(); err != nil {
		a.abort()
		return fmt.Errorf("export: writing %s: %w", a.path, err)
	}
	if err := os.Chmod(a.Name(), 0o644); err != nil {
		a.abort()
		return fmt.Errorf("export: %s: %w", a.path, err)
	}
	if err := os.Rename(a.Name(), a.path); err != nil {
		a.abort()
		return fmt.Errorf("export: cannot move the finished file to %s: %w", a.path, err)
	}
	a.done = true
	return nil
}

func (a *atomicFile) abort() {
	if a.done {
		return
	}
	a.Close()
	os.Remove(a.Name())
	a.done = true
}

type jsonlSink struct {
	bw  *bufio.Writer
	buf []byte
}

func newJSONLSink(f *atomicFile) *jsonlSink {
	return &jsonlSink{bw: bufio.NewWriterSize(f, 1<<20)}
}

// write encodes like encoding/json without HTML escaping, so "<" and "&"
// stay readable in prompts.
func (j *jsonlSink) write(r *Record) error {
	j.buf = appendRecordJSON(j.buf[:0], r)
	_, err := j.bw.Write(j.buf)
	return err
}

func (j *jsonlSink) close() error { return j.bw.Flush() }

// parquetSink writes record batches and cuts a row group exactly when it
// reaches the row or byte bound.
type parquetSink struct {
	bw              *bufio.Writer
	w               *parquet.GenericWriter[Record]
	rows, bytes     int
	maxRows, maxLen int
}

func newParquetSink(f *atomicFile, maxRows, maxBytes int) *parquetSink {
	bw := bufio.NewWriterSize(f, 1<<20)
	w := parquet.NewGenericWriter[Record](bw,
		parquet.Compression(&parquet.Snappy),
		// A fixed creator string keeps files identical across builds.
		parquet.CreatedBy("polyglot", "1", "export"),
	)
	return &parquetSink{bw: bw, w: w, maxRows: maxRows, maxLen: maxBytes}
}

func recordBytes(r *Record) int {
	n := len(r.ID) + len(r.Teacher) + len(r.Language) + len(r.Strategy) + len(r.System)
	for _, m := range r.Messages {
		n += len(m.Content) + len(m.Role)
	}
	return n
}

func (p *parquetSink) write(batch []Record) error {
	start := 0
	for i := range batch {
		p.rows++
		p.bytes += recordBytes(&batch[i])
		if p.rows >= p.maxRows || p.bytes >= p.maxLen {
			if _, err := p.w.Write(batch[start : i+1]); err != nil {
				return err
			}
			if err := p.w.Flush(); err != nil {
				return err
			}
			start = i + 1
			p.rows, p.bytes = 0, 0
		}
	}
	if start < len(batch) {
		_, err := p.w.Write(batch[start:])
		return err
	}
	return nil
}

func (p *parquetSink) close() error {
	if err := p.w.Close(); err != nil {
		return err
	}
	return p.bw.Flush()
}
