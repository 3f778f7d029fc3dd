package kn

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// File format (version 1): the magic "PGKN\x01", then a gzip stream of
// uvarints: order, the discount's float64 bits, characters trained on,
// vocabulary size V and V runes, the number of top-order n-grams and, for each
// in ascending key order, its order symbol ids (oldest first) and its count.
// Only top-order counts are stored: lower orders are derived from them on load,
// which keeps files small and makes Load the same code path as training.
var magic = []byte("PGKN\x01")

// Save writes the model to path atomically (a temporary file is renamed into
// place, so a crash never leaves a half-written model behind).
func (m *Model) Save(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kn-*")
	if err != nil {
		return fmt.Errorf("kn: saving model: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := m.Encode(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("kn: saving model to %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("kn: saving model to %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("kn: saving model: %w", err)
	}
	return nil
}

// Encode writes the model in the binary format described above.
func (m *Model) Encode(w io.Writer) error {
	if _, err := w.Write(magic); err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(zw, 1<<16)
	var buf [binary.MaxVarintLen64]byte
	put := func(v uint64) {
		n := binary.PutUvarint(buf[:], v)
		bw.Write(buf[:n]) // bufio keeps the first error; checked at Flush
	}
	put(uint64(m.order))
	put(math.Float64bits(m.discount))
	put(m.chars)
	put(uint64(len(m.vocab) - 2))
	for _, r := range m.vocab[2:] {
		put(uint64(r))
	}
	top := m.counts[m.order-1]
	keys := make([]key, 0, top.len())
	for k := range top.all {
		keys = append(keys, k)
	}
	// Sorted so that the same model always gives the same bytes.
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		return cmp.Compare(a.lo, b.lo)
	})
	put(uint64(len(keys)))
	for _, k := range keys {
		for i := m.order - 1; i >= 0; i-- {
			put(uint64(k.sym(i)))
		}
		put(uint64(top.get(k)))
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// Load reads a model written by Save.
func Load(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kn: loading model: %w", err)
	}
	defer f.Close()
	m, err := Decode(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("kn: loading model %s: %w", path, err)
	}
	return m, nil
}

// Decode reads a model in the format Encode writes.
func Decode(r io.Reader) (*Model, error) {
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(r, head); err != nil || string(head) != string(magic) {
		return nil, fmt.Errorf("%w: bad header (write models with kn's Save)", ErrFormat)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	br := bufio.NewReader(zr)
	var rerr error
	get := func(what string, limit uint64) uint64 {
		if rerr != nil {
			return 0
		}
		v, err := binary.ReadUvarint(br)
		if err != nil {
			rerr = fmt.Errorf("%w: truncated while reading %s: %v", ErrFormat, what, err)
			return 0
		}
		if v > limit {
			rerr = fmt.Errorf("%w: %s = %d exceeds %d", ErrFormat, what, v, limit)
			return 0
		}
		return v
	}
	order := int(get("order", MaxOrder))
	disc := math.Float64frombits(get("discount", math.MaxUint64))
	if rerr != nil {
		return nil, rerr
	}
	m, err := New(Options{Order: order, Discount: disc})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	m.chars = get("character count", math.MaxUint64)
	nv := int(get("vocabulary size", maxIDs-2))
	for range nv {
		r := rune(get("vocabulary entry", 0x10FFFF))
		if rerr != nil {
			return nil, rerr
		}
		if _, known := m.lookup(r); known {
			return nil, fmt.Errorf("%w: character %q listed twice", ErrFormat, r)
		}
		m.intern(r)
	}
	n := get("n-gram count", math.MaxInt32)
	// The top order gets exactly n entries, and each lower order at most
	// as many: sized up front, the tables never grow (rehashing them was
	// a third of a load). A corrupt count cannot reserve more than 1<<20.
	hint := int(min(n, 1<<20))
	for i := range m.counts {
		m.counts[i] = newTable(hint / max(1, m.order-i))
	}
	ids := uint64(len(m.vocab) - 1)
	top := m.counts[m.order-1]
	for range n {
		var k key
		for range m.order {
			k = k.push(uint16(get("symbol id", ids)), m.order)
		}
		c := uint32(get("n-gram count", math.MaxUint32))
		if rerr != nil {
			return nil, rerr
		}
		if c == 0 {
			return nil, fmt.Errorf("%w: zero n-gram count", ErrFormat)
		}
		// bump's first step, with the repeat check on the same lookup.
		if top.add(k, c) != 0 {
			return nil, fmt.Errorf("%w: repeated n-gram entry", ErrFormat)
		}
		if m.order > 1 {
			m.bump(m.order-1, k.keep(m.order-1), 1)
		}
	}
	if rerr != nil {
		return nil, rerr
	}
	return m, nil
}
