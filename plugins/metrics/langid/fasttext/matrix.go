package fasttext

import (
	"errors"
	"fmt"
	"math"
)

// dense is DenseMatrix: m rows of n float32, row-major.
type dense struct {
	m, n int64
	data []float32
}

func loadDense(r *reader, what string) (*dense, error) {
	m, err := r.i64(what + " rows")
	if err != nil {
		return nil, err
	}
	n, err := r.i64(what + " columns")
	if err != nil {
		return nil, err
	}
	if m < 0 || n < 0 || n > maxDim || (n > 0 && m > math.MaxInt32) {
		return nil, &FormatError{Offset: r.off, What: what, Err: fmt.Errorf("implausible shape %dx%d; the file is corrupt", m, n)}
	}
	data, err := r.float32s(m*n, what+" data")
	if err != nil {
		return nil, err
	}
	return &dense{m: m, n: n, data: data}, nil
}

func (d *dense) check(r *reader, what string, rows, cols int64) error {
	if d.m != rows || d.n != cols {
		return &FormatError{Offset: r.off, What: what, Err: fmt.Errorf("shape %dx%d, want %dx%d from the header and dictionary; the file is corrupt", d.m, d.n, rows, cols)}
	}
	return nil
}

func (d *dense) addRow(x []float32, i int32) {
	row := d.data[int64(i)*d.n : int64(i+1)*d.n]
	x = x[:len(row)]
	for j, v := range row {
		x[j] += v
	}
}

// pq is ProductQuantizer: the vector is split into nsubq sub-vectors of dsub values
// (the last one lastdsub), each coded by one byte indexing 256 centroids.
type pq struct {
	dim, nsubq, dsub, lastdsub int32
	centroids                  []float32
}

const ksub = 256

func loadPQ(r *reader, what string) (*pq, error) {
	p := &pq{}
	var err error
	for _, f := range []struct {
		v    *int32
		name string
	}{{&p.dim, "dim"}, {&p.nsubq, "nsubq"}, {&p.dsub, "dsub"}, {&p.lastdsub, "lastdsub"}} {
		if *f.v, err = r.i32(what + " quantizer " + f.name); err != nil {
			return nil, err
		}
	}
	if p.dim <= 0 || p.dim > maxDim || p.dsub <= 0 || p.nsubq <= 0 || p.lastdsub <= 0 || p.lastdsub > p.dsub ||
		int64(p.nsubq-1)*int64(p.dsub)+int64(p.lastdsub) != int64(p.dim) {
		return nil, &FormatError{Offset: r.off, What: what + " quantizer", Err: fmt.Errorf("inconsistent dim=%d nsubq=%d dsub=%d lastdsub=%d; the file is corrupt", p.dim, p.nsubq, p.dsub, p.lastdsub)}
	}
	if p.centroids, err = r.float32s(int64(p.dim)*ksub, what+" quantizer centroids"); err != nil {
		return nil, err
	}
	return p, nil
}

// centroid returns centroid i of sub-quantizer m (ProductQuantizer::get_centroids).
func (p *pq) centroid(m int32, i uint8) []float32 {
	if m == p.nsubq-1 {
		off := m*ksub*p.dsub + int32(i)*p.lastdsub
		return p.centroids[off : off+p.lastdsub]
	}
	off := (m*ksub + int32(i)) * p.dsub
	return p.centroids[off : off+p.dsub]
}

// quant is QuantMatrix: codes for every row, optionally with a separately quantized norm.
type quant struct {
	qnorm     bool
	m, n      int64
	codes     []uint8
	pq        *pq
	normCodes []uint8
	npq       *pq
}

func loadQuant(r *reader, what string) (*quant, error) {
	q := &quant{}
	var err error
	if q.qnorm, err = r.boolean(what + " qnorm flag"); err != nil {
		return nil, err
	}
	if q.m, err = r.i64(what + " rows"); err != nil {
		return nil, err
	}
	if q.n, err = r.i64(what + " columns"); err != nil {
		return nil, err
	}
	codesize, err := r.i32(what + " code size")
	if err != nil {
		return nil, err
	}
	if q.m < 0 || q.n <= 0 || q.n > maxDim || codesize < 0 {
		return nil, &FormatError{Offset: r.off, What: what, Err: fmt.Errorf("implausible shape %dx%d, code size %d; the file is corrupt", q.m, q.n, codesize)}
	}
	if q.codes, err = r.bytes(int64(codesize), what+" codes"); err != nil {
		return nil, err
	}
	if q.pq, err = loadPQ(r, what); err != nil {
		return nil, err
	}
	if int64(q.pq.dim) != q.n || int64(codesize) != q.m*int64(q.pq.nsubq) {
		return nil, &FormatError{Offset: r.off, What: what, Err: fmt.Errorf("quantizer dim %d / code size %d do not match %dx%d with %d sub-quantizers; the file is corrupt", q.pq.dim, codesize, q.m, q.n, q.pq.nsubq)}
	}
	if q.qnorm {
		if q.normCodes, err = r.bytes(q.m, what+" norm codes"); err != nil {
			return nil, err
		}
		if q.npq, err = loadPQ(r, what+" norm"); err != nil {
			return nil, err
		}
		if q.npq.dim != 1 {
			return nil, &FormatError{Offset: r.off, What: what + " norm quantizer", Err: errors.New("norm quantizer must have dimension 1; the file is corrupt")}
		}
	}
	return q, nil
}

func (q *quant) check(r *reader, what string, rows, cols int64) error {
	if q.m != rows || q.n != cols {
		return &FormatError{Offset: r.off, What: what, Err: fmt.Errorf("shape %dx%d, want %dx%d from the header and dictionary; the file is corrupt", q.m, q.n, rows, cols)}
	}
	return nil
}

func (q *quant) norm(i int64) float32 {
	if !q.qnorm {
		return 1
	}
	return q.npq.centroid(0, q.normCodes[i])[0]
}

// addRow is ProductQuantizer::addcode: x += norm * centroid, sub-vector by sub-vector.
func (q *quant) addRow(x []float32, i int32) {
	alpha := q.norm(int64(i))
	p := q.pq
	code := q.codes[int64(p.nsubq)*int64(i):]
	for m := int32(0); m < p.nsubq; m++ {
		c := p.centroid(m, code[m])
		xs := x[m*p.dsub:]
		for n, v := range c {
			xs[n] += float32(alpha * v)
		}
	}
}

// decodeRows writes row i as float32(norm*centroid) values, which is exactly the
// term addcode adds, so summing decoded rows gives bit-identical hidden vectors.
func (q *quant) decodeRow(dst []float32, i int64, withNorm bool) {
	alpha := float32(1)
	if withNorm {
		alpha = q.norm(i)
	}
	p := q.pq
	code := q.codes[int64(p.nsubq)*i:]
	for m := int32(0); m < p.nsubq; m++ {
		c := p.centroid(m, code[m])
		ds := dst[m*p.dsub:]
		for n, v := range c {
			ds[n] = float32(alpha * v)
		}
	}
}

// inputMatrix adds one row of the input embedding matrix to a vector.
type inputMatrix interface {
	addRow(x []float32, i int32)
}

// newQuantInput decodes a quantized input matrix into a dense table when it is small
// enough (lid.176.ftz: 50,000 x 16), trading memory for a branch-free inner loop.
func newQuantInput(q *quant) inputMatrix {
	if q.m*q.n*4 > maxDecodedInputBytes {
		return q
	}
	d := &dense{m: q.m, n: q.n, data: make([]float32, q.m*q.n)}
	for i := int64(0); i < q.m; i++ {
		q.decodeRow(d.data[i*q.n:(i+1)*q.n], i, true)
	}
	return d
}

// outputMatrix holds output rows as float32 plus, for a quantized output with norms,
// the per-row norm that QuantMatrix::dotRow multiplies in after the dot product.
type outputMatrix struct {
	rows, dim int
	data      []float32
	norms     []float32 // nil: all 1, and no final multiplication
}

func (q *quant) decodeOutput() outputMatrix {
	o := outputMatrix{rows: int(q.m), dim: int(q.n), data: make([]float32, q.m*q.n)}
	for i := int64(0); i < q.m; i++ {
		q.decodeRow(o.data[i*q.n:(i+1)*q.n], i, false)
	}
	// QuantMatrix::dotRow always multiplies by the norm (1 without qnorm);
	// multiplying by 1 is exact, so only keep norms when present.
	if q.qnorm {
		o.norms = make([]float32, q.m)
		for i := range o.norms {
			o.norms[i] = q.norm(int64(i))
		}
	}
	return o
}

// dot is dotRow: sequential float32 accumulation as in the C++ loop. The explicit
// float32 conversion of each product forbids fused multiply-add, which would change
// the rounding relative to the C++ build.
func (o *outputMatrix) dot(h []float32, i int) float32 {
	row := o.data[i*o.dim : (i+1)*o.dim]
	h = h[:len(row)]
	var d float32
	for j, v := range row {
		d += float32(v * h[j])
	}
	if o.norms != nil {
		d = float32(d * o.norms[i])
	}
	return d
}
