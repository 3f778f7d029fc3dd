package fasttext

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

const (
	labelPrefix = "__label__" // Args::label default; not stored in the file
	eos         = "</s>"
	bow         = "<"
	eow         = ">"

	// Bucket counts up to this use a flat slice for the pruned-bucket index.
	maxPruneSlice = 1 << 23
	// Largest sane dimension; guards allocations against corrupt headers.
	maxDim = 1 << 16
)

// maxDecodedInputBytes: a quantized input matrix is decoded into float32 rows when the
// table stays below this size; larger ones are decoded per row at prediction time.
// A variable so tests can exercise both paths.
var maxDecodedInputBytes int64 = 256 << 20

// reader wraps the input with position tracking so errors can say where a file is bad.
type reader struct {
	r   *bufio.Reader
	off int64
	buf [8]byte
}

// FormatError describes a malformed model file: what was being read, at which byte.
type FormatError struct {
	Offset int64  // byte offset in the file where the problem was found
	What   string // which field
	Err    error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("fasttext: reading %s at byte %d: %v", e.What, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// ErrTruncated is wrapped by the error returned for a file that ends too early.
var ErrTruncated = errors.New("file is truncated (unexpected end of file); re-download or re-export the model")

func (r *reader) fail(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = ErrTruncated
	}
	return &FormatError{Offset: r.off, What: what, Err: err}
}

func (r *reader) full(p []byte, what string) error {
	n, err := io.ReadFull(r.r, p)
	r.off += int64(n)
	if err != nil {
		return r.fail(what, err)
	}
	return nil
}

func (r *reader) i32(what string) (int32, error) {
	if err := r.full(r.buf[:4], what); err != nil {
		return 0, err
	}
	return int32(binary.LittleEndian.Uint32(r.buf[:4])), nil
}

func (r *reader) i64(what string) (int64, error) {
	if err := r.full(r.buf[:8], what); err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(r.buf[:8])), nil
}

func (r *reader) f64(what string) (float64, error) {
	v, err := r.i64(what)
	return math.Float64frombits(uint64(v)), err
}

func (r *reader) u8(what string) (uint8, error) {
	if err := r.full(r.buf[:1], what); err != nil {
		return 0, err
	}
	return r.buf[0], nil
}

func (r *reader) boolean(what string) (bool, error) {
	b, err := r.u8(what)
	if err != nil {
		return false, err
	}
	if b > 1 {
		return false, r.fail(what, fmt.Errorf("boolean byte is %d, want 0 or 1; the file is corrupt", b))
	}
	return b == 1, nil
}

// float32s reads n little-endian floats in chunks, so that a corrupt size in a short
// file fails with "truncated" instead of allocating gigabytes first.
func (r *reader) float32s(n int64, what string) ([]float32, error) {
	const chunk = 1 << 16
	out := make([]float32, 0, min(n, chunk))
	var raw [chunk * 4]byte
	for int64(len(out)) < n {
		c := min(n-int64(len(out)), chunk)
		b := raw[:c*4]
		if err := r.full(b, what); err != nil {
			return nil, err
		}
		for i := int64(0); i < c; i++ {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:])))
		}
	}
	return out, nil
}

func (r *reader) bytes(n int64, what string) ([]byte, error) {
	const chunk = 1 << 20
	out := make([]byte, 0, min(n, chunk))
	for int64(len(out)) < n {
		c := min(n-int64(len(out)), chunk)
		start := len(out)
		out = append(out, make([]byte, c)...)
		if err := r.full(out[start:], what); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *reader) cstring(what string) (string, error) {
	s, err := r.r.ReadString(0)
	r.off += int64(len(s))
	if err != nil {
		return "", r.fail(what, err)
	}
	return s[:len(s)-1], nil
}

// Load reads a supervised model in the fastText binary format from r.
func Load(rd io.Reader) (*Model, error) {
	r := &reader{r: bufio.NewReaderSize(rd, 1<<16)}
	m := &Model{eosID: -1}

	magic, err := r.i32("magic number")
	if err != nil {
		return nil, err
	}
	if magic != Magic {
		return nil, &FormatError{Offset: 0, What: "magic number", Err: fmt.Errorf("got %d, want %d: not a fastText model file (a .vec text file or another format?)", magic, Magic)}
	}
	if m.version, err = r.i32("format version"); err != nil {
		return nil, err
	}
	if m.version != 11 && m.version != Version {
		return nil, &FormatError{Offset: 4, What: "format version", Err: fmt.Errorf("version %d is not supported (this reader handles 11 and 12, written by fastText 0.1 to 0.9); re-save the model with fastText 0.9", m.version)}
	}
	if err := m.loadArgs(r); err != nil {
		return nil, err
	}
	if err := m.loadDict(r); err != nil {
		return nil, err
	}
	quantIn, err := r.boolean("input-quantized flag")
	if err != nil {
		return nil, err
	}
	m.quantized = quantIn
	nIn := int64(m.nwords) + int64(m.args.Bucket)
	if m.pruned {
		nIn = int64(m.nwords) + m.pruneSize
	}
	if quantIn {
		q, err := loadQuant(r, "input matrix")
		if err != nil {
			return nil, err
		}
		if err := q.check(r, "input matrix", nIn, int64(m.args.Dim)); err != nil {
			return nil, err
		}
		m.in = newQuantInput(q)
	} else {
		if m.pruned {
			return nil, &FormatError{Offset: r.off, What: "input matrix", Err: errors.New("a pruned dictionary needs a quantized input matrix; the file is inconsistent")}
		}
		d, err := loadDense(r, "input matrix")
		if err != nil {
			return nil, err
		}
		if err := d.check(r, "input matrix", nIn, int64(m.args.Dim)); err != nil {
			return nil, err
		}
		m.in = d
	}
	qout, err := r.boolean("output-quantized flag")
	if err != nil {
		return nil, err
	}
	if quantIn && qout {
		q, err := loadQuant(r, "output matrix")
		if err != nil {
			return nil, err
		}
		if err := q.check(r, "output matrix", int64(m.nlabels), int64(m.args.Dim)); err != nil {
			return nil, err
		}
		m.out = q.decodeOutput()
	} else {
		d, err := loadDense(r, "output matrix")
		if err != nil {
			return nil, err
		}
		if err := d.check(r, "output matrix", int64(m.nlabels), int64(m.args.Dim)); err != nil {
			return nil, err
		}
		m.out = outputMatrix{rows: int(d.m), dim: int(d.n), data: d.data}
	}
	m.buildLoss()
	return m, nil
}

func (m *Model) loadArgs(r *reader) error {
	a := &m.args
	fields := []struct {
		p    *int32
		name string
	}{
		{&a.Dim, "args.dim"}, {&a.WS, "args.ws"}, {&a.Epoch, "args.epoch"},
		{&a.MinCount, "args.minCount"}, {&a.Neg, "args.neg"}, {&a.WordNgrams, "args.wordNgrams"},
		{(*int32)(&a.Loss), "args.loss"}, {(*int32)(&a.Model), "args.model"},
		{&a.Bucket, "args.bucket"}, {&a.Minn, "args.minn"}, {&a.Maxn, "args.maxn"},
		{&a.LRUpdateRate, "args.lrUpdateRate"},
	}
	for _, f := range fields {
		v, err := r.i32(f.name)
		if err != nil {
			return err
		}
		*f.p = v
	}
	var err error
	if a.T, err = r.f64("args.t"); err != nil {
		return err
	}
	switch a.Loss {
	case LossHS, LossNS, LossSoftmax, LossOVA:
	default:
		return &FormatError{Offset: 8 + 6*4, What: "args.loss", Err: fmt.Errorf("unknown loss %d (known: 1 hs, 2 ns, 3 softmax, 4 ova); the file is corrupt or from a newer fastText", int32(a.Loss))}
	}
	if a.Model != KindSupervised {
		return &FormatError{Offset: 8 + 7*4, What: "args.model", Err: fmt.Errorf("model kind %d is not a supervised classifier (1 cbow, 2 skipgram, 3 supervised); only classifiers can predict labels", int32(a.Model))}
	}
	if a.Dim <= 0 || a.Dim > maxDim || a.Bucket < 0 || a.Minn < 0 || a.Maxn < 0 || a.WordNgrams < 0 {
		return &FormatError{Offset: 8, What: "args", Err: fmt.Errorf("implausible values dim=%d bucket=%d minn=%d maxn=%d wordNgrams=%d; the file is corrupt", a.Dim, a.Bucket, a.Minn, a.Maxn, a.WordNgrams)}
	}
	if m.version == 11 {
		// fastText before 0.2 did not use character n-grams in supervised models.
		a.Maxn = 0
	}
	if a.Maxn > 0 && a.Bucket == 0 {
		return &FormatError{Offset: 8, What: "args", Err: errors.New("character n-grams enabled but bucket is 0; the file is corrupt")}
	}
	return nil
}

func (m *Model) loadDict(r *reader) error {
	size, err := r.i32("dictionary size")
	if err != nil {
		return err
	}
	if m.nwords, err = r.i32("dictionary word count"); err != nil {
		return err
	}
	if m.nlabels, err = r.i32("dictionary label count"); err != nil {
		return err
	}
	if _, err = r.i64("dictionary token count"); err != nil {
		return err
	}
	pruneSize, err := r.i64("dictionary prune index size")
	if err != nil {
		return err
	}
	if size < 0 || m.nwords < 0 || m.nlabels <= 0 || m.nwords+m.nlabels != size {
		return &FormatError{Offset: r.off, What: "dictionary header", Err: fmt.Errorf("size=%d words=%d labels=%d do not add up (a classifier needs at least one label); the file is corrupt", size, m.nwords, m.nlabels)}
	}
	if pruneSize > int64(m.args.Bucket) {
		return &FormatError{Offset: r.off, What: "dictionary header", Err: fmt.Errorf("prune index size %d exceeds bucket count %d; the file is corrupt", pruneSize, m.args.Bucket)}
	}
	m.vocab = make(map[string]int32, size)
	m.words = make([]string, 0, m.nwords)
	m.labels = make([]string, 0, m.nlabels)
	m.labelCounts = make([]int64, 0, m.nlabels)
	for i := int32(0); i < size; i++ {
		what := fmt.Sprintf("dictionary entry %d", i)
		w, err := r.cstring(what)
		if err != nil {
			return err
		}
		count, err := r.i64(what + " count")
		if err != nil {
			return err
		}
		typ, err := r.u8(what + " type")
		if err != nil {
			return err
		}
		// Entries are sorted words first, then labels (Dictionary::threshold).
		wantType := uint8(0)
		if i >= m.nwords {
			wantType = 1
		}
		if typ != wantType {
			return &FormatError{Offset: r.off - 1, What: what + " type", Err: fmt.Errorf("type %d, want %d (words come before labels); the file is corrupt", typ, wantType)}
		}
		if _, dup := m.vocab[w]; !dup {
			m.vocab[w] = i
		}
		if typ == 0 {
			m.words = append(m.words, w)
		} else {
			m.labels = append(m.labels, w)
			m.labelCounts = append(m.labelCounts, count)
		}
	}
	m.pruned = pruneSize >= 0
	m.pruneSize = max(pruneSize, 0)
	if m.pruned {
		if int64(m.args.Bucket) <= maxPruneSlice {
			m.pruneSlice = make([]int32, m.args.Bucket)
			for i := range m.pruneSlice {
				m.pruneSlice[i] = -1
			}
		} else {
			m.pruneMap = make(map[int32]int32, pruneSize)
		}
		for i := int64(0); i < pruneSize; i++ {
			from, err := r.i32("prune index key")
			if err != nil {
				return err
			}
			to, err := r.i32("prune index value")
			if err != nil {
				return err
			}
			if from < 0 || from >= m.args.Bucket || to < 0 || int64(to) >= pruneSize {
				return &FormatError{Offset: r.off - 8, What: "prune index", Err: fmt.Errorf("pair %d -> %d out of range (bucket %d, %d kept); the file is corrupt", from, to, m.args.Bucket, pruneSize)}
			}
			if m.pruneSlice != nil {
				m.pruneSlice[from] = to
			} else {
				m.pruneMap[from] = to
			}
		}
	}
	if id, ok := m.vocab[eos]; ok && id < m.nwords {
		m.eosID = id
	}
	m.initSubwords()
	return nil
}

// initSubwords precomputes, for every vocabulary word, its id followed by its
// character n-gram buckets (Dictionary::initNgrams).
func (m *Model) initSubwords() {
	m.subOff = make([]int32, m.nwords+1)
	ids := make([]int32, 0, int(m.nwords)*8)
	buf := make([]byte, 0, 64)
	for i, w := range m.words {
		ids = append(ids, int32(i))
		if w != eos {
			buf = append(append(append(buf[:0], bow...), w...), eow...)
			ids = m.appendSubwords(ids, buf)
		}
		m.subOff[i+1] = int32(len(ids))
	}
	m.subIDs = ids
}
