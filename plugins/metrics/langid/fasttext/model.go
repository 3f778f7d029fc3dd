// Package fasttext reads fastText supervised classifiers (the full ".bin" and the
// product-quantized ".ftz" files written by the C++ tool, format version 11 and 12)
// and predicts labels exactly as `fasttext predict` / `predict-prob` does.
//
// It is written by hand rather than wrapping the C++ library because polyglot plugins
// must build without cgo, and no maintained pure-Go fastText reader exists. The
// arithmetic follows the C++ code step by step (float32 accumulation in the same order,
// the same hashing, the same pruning of the hierarchical-softmax search) so that labels
// and probabilities agree with the CLI, not merely approximately.
//
// Speed: in-vocabulary words have their sub-word rows precomputed at load time,
// quantized input rows are decoded once into a dense table when it fits in memory,
// the pruned-bucket map becomes a flat slice, and prediction reuses per-goroutine
// scratch buffers so that Predict allocates only its result. PredictBatch spreads
// texts over worker goroutines.
package fasttext

import (
	"fmt"
	"os"
	"sync"
)

// Magic and Version are the header values of the fastText binary format.
const (
	Magic   int32 = 793712314
	Version int32 = 12
)

// Loss is the loss a model was trained with; it decides how outputs become probabilities.
type Loss int32

// Loss values as stored in the file (enum loss_name in the C++ code).
const (
	LossHS      Loss = 1 // hierarchical softmax (lid.176)
	LossNS      Loss = 2 // negative sampling
	LossSoftmax Loss = 3
	LossOVA     Loss = 4 // one-vs-all
)

func (l Loss) String() string {
	switch l {
	case LossHS:
		return "hs"
	case LossNS:
		return "ns"
	case LossSoftmax:
		return "softmax"
	case LossOVA:
		return "ova"
	}
	return fmt.Sprintf("unknown(%d)", int32(l))
}

// Kind is the model architecture stored in the file.
type Kind int32

// Kind values (enum model_name in the C++ code).
const (
	KindCBOW       Kind = 1
	KindSkipGram   Kind = 2
	KindSupervised Kind = 3
)

// Args are the training arguments saved in the model header.
type Args struct {
	Dim, WS, Epoch, MinCount, Neg, WordNgrams int32
	Loss                                      Loss
	Model                                     Kind
	Bucket, Minn, Maxn, LRUpdateRate          int32
	T                                         float64
}

// Prediction is one predicted label with its probability, as printed by predict-prob
// (the C++ tool reports exp(log(p + 1e-5)), so a certain label shows 1.00001).
type Prediction struct {
	Label string
	Prob  float32
}

// Model is a loaded supervised fastText classifier. It is safe for concurrent use.
type Model struct {
	args      Args
	version   int32
	quantized bool // input matrix was product-quantized (.ftz)

	nwords, nlabels int32
	words           []string // vocabulary words, index = word id
	labels          []string // label strings, index = label id
	labelCounts     []int64
	vocab           map[string]int32 // word or label -> entry id (labels: nwords+label)
	eosID           int32            // id of "</s>" or -1

	// pruning of the n-gram buckets (quantize -cutoff). pruned is false for
	// unpruned models (pruneidx_size == -1 in the file).
	pruned     bool
	pruneSize  int64
	pruneSlice []int32 // bucket -> new bucket or -1, when bucket is small enough
	pruneMap   map[int32]int32

	// sub-word ids for each vocabulary word: subIDs[subOff[i]:subOff[i+1]]
	subOff []int32
	subIDs []int32

	in  inputMatrix
	out outputMatrix

	// hierarchical softmax tree (LossHS)
	treeLeft, treeRight []int32

	sigmoidTable []float32 // for ns/ova, the C++ lookup table

	scratch sync.Pool // *scratch buffers for Predict
}

// LoadFile reads a model from a .bin or .ftz file.
func LoadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fasttext: open model: %w", err)
	}
	defer f.Close()
	m, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Args returns the training arguments stored in the model.
func (m *Model) Args() Args { return m.args }

// FormatVersion returns the format version found in the file header (11 or 12).
func (m *Model) FormatVersion() int32 { return m.version }

// Quantized reports whether the input matrix is product-quantized (an .ftz file).
func (m *Model) Quantized() bool { return m.quantized }

// Labels returns the model's labels (with their "__label__" prefix), most frequent first.
func (m *Model) Labels() []string { return append([]string(nil), m.labels...) }

// NumWords returns the vocabulary size (without labels).
func (m *Model) NumWords() int { return int(m.nwords) }
