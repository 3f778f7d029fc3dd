package fasttext

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// fnv is Dictionary::hash: 32-bit FNV-1a, except that each byte is sign-extended
// (int8 -> uint32) before the xor, so bytes >= 0x80 hash differently from plain FNV-1a.
func fnvByte(h uint32, b byte) uint32 {
	return (h ^ uint32(int32(int8(b)))) * 16777619
}

const fnvOffset uint32 = 2166136261

func hashString(s string) uint32 {
	h := fnvOffset
	for i := 0; i < len(s); i++ {
		h = fnvByte(h, s[i])
	}
	return h
}

// pushBucket is Dictionary::pushHash: maps an n-gram bucket through the prune index.
func (m *Model) pushBucket(ids []int32, id int32) []int32 {
	if id < 0 {
		return ids
	}
	if m.pruned {
		if m.pruneSlice != nil {
			id = m.pruneSlice[id]
			if id < 0 {
				return ids
			}
		} else {
			v, ok := m.pruneMap[id]
			if !ok {
				return ids
			}
			id = v
		}
	}
	return append(ids, m.nwords+id)
}

// appendSubwords is Dictionary::computeSubwords on w (already wrapped in < >): every
// character n-gram of minn..maxn UTF-8 characters except the lone "<" and ">". The
// hash is extended byte by byte, so each n-gram costs O(1) beyond its last character.
func (m *Model) appendSubwords(ids []int32, w []byte) []int32 {
	minn, maxn, bucket := int(m.args.Minn), int(m.args.Maxn), uint32(m.args.Bucket)
	if maxn <= 0 || bucket == 0 {
		return ids
	}
	for i := 0; i < len(w); i++ {
		if w[i]&0xC0 == 0x80 {
			continue
		}
		h := fnvOffset
		j := i
		for n := 1; j < len(w) && n <= maxn; n++ {
			h = fnvByte(h, w[j])
			j++
			for j < len(w) && w[j]&0xC0 == 0x80 {
				h = fnvByte(h, w[j])
				j++
			}
			if n >= minn && !(n == 1 && (i == 0 || j == len(w))) {
				ids = m.pushBucket(ids, int32(h%bucket))
			}
		}
	}
	return ids
}

// scratch holds the per-goroutine buffers of one prediction.
type scratch struct {
	ids    []int32
	hashes []int32
	word   []byte
	hidden []float32
	half   []float32 // the first half's row sum, in PredictBatchHalves
	output []float32
	heap   []scored

	// tokens caches the input rows of the out-of-vocabulary tokens this
	// goroutine has seen: tokIDs[span[0]:span[1]]. Such a token's rows are
	// its sub-word buckets, one hash and one prune-index read per character
	// n-gram (the prune index is 8 MB, so mostly cache misses), while text
	// repeats its words: one map read replaces the whole computation. The
	// cache is cleared when it holds tokenCacheIDs rows (about 4 MiB with
	// the keys).
	tokens map[string][2]int32
	tokIDs []int32
}

// tokenCacheIDs bounds a scratch's token cache.
const tokenCacheIDs = 1 << 19

type scored struct {
	score float32 // log probability (std_log)
	label int32
}

func (m *Model) newScratch() *scratch {
	return &scratch{
		ids:    make([]int32, 0, 256),
		word:   make([]byte, 0, 64),
		hidden: make([]float32, m.args.Dim),
		output: make([]float32, m.nlabels),
	}
}

func isSpace(c byte) bool {
	// Dictionary::readWord's separators; '\n' ends a line in the C++ tool but Predict
	// treats its whole input as one line.
	switch c {
	case ' ', '\n', '\r', '\t', '\v', '\f', 0:
		return true
	}
	return false
}

// addToken is the body of Dictionary::getLine for one token.
func (m *Model) addToken(s *scratch, tok string) {
	if m.args.WordNgrams > 1 {
		if wid, known := m.vocab[tok]; !(known && wid >= m.nwords) && (known || !isLabel(tok)) {
			s.hashes = append(s.hashes, int32(hashString(tok)))
		}
	}
	if span, ok := s.tokens[tok]; ok {
		s.ids = append(s.ids, s.tokIDs[span[0]:span[1]]...)
		return
	}
	wid, known := m.vocab[tok]
	if known && wid >= m.nwords {
		return // a label of the model: not an input feature
	}
	if !known && isLabel(tok) {
		return // unknown label
	}
	if known {
		if m.args.Maxn <= 0 {
			s.ids = append(s.ids, wid)
		} else {
			s.ids = append(s.ids, m.subIDs[m.subOff[wid]:m.subOff[wid+1]]...)
		}
		return
	}
	if tok == eos {
		return
	}
	s.word = append(append(append(s.word[:0], bow...), tok...), eow...)
	from := len(s.ids)
	s.ids = m.appendSubwords(s.ids, s.word)
	if s.tokens == nil || len(s.tokIDs) >= tokenCacheIDs {
		s.tokens, s.tokIDs = make(map[string][2]int32, 1024), s.tokIDs[:0]
	}
	lo := int32(len(s.tokIDs))
	s.tokIDs = append(s.tokIDs, s.ids[from:]...)
	s.tokens[string(tok)] = [2]int32{lo, int32(len(s.tokIDs))}
}

func isLabel(tok string) bool {
	return len(tok) >= len(labelPrefix) && tok[:len(labelPrefix)] == labelPrefix
}

// tokens appends the input rows of text's tokens (no end of line).
func (m *Model) tokens(s *scratch, text string) {
	start := -1
	for i := 0; i < len(text); i++ {
		if isSpace(text[i]) {
			if start >= 0 {
				m.addToken(s, text[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		m.addToken(s, text[start:])
	}
}

// features turns a line into input row ids, like getLine on text + "\n".
func (m *Model) features(s *scratch, text string) {
	s.ids = s.ids[:0]
	s.hashes = s.hashes[:0]
	m.tokens(s, text)
	m.addToken(s, eos)
	if n := int(m.args.WordNgrams); n > 1 {
		// Dictionary::addWordNgrams: hashes are int32 widened with sign extension.
		hs := s.hashes
		bucket := uint64(m.args.Bucket)
		for i := range hs {
			h := uint64(int64(hs[i]))
			for j := i + 1; j < len(hs) && j < i+n; j++ {
				h = h*116049371 + uint64(int64(hs[j]))
				s.ids = m.pushBucket(s.ids, int32(h%bucket))
			}
		}
	}
}

func stdLog(x float32) float32 { return float32(math.Log(float64(x) + 1e-5)) }

func expf(x float32) float32 { return float32(math.Exp(float64(x))) }

// predict fills s.heap with the k best (log-prob, label) pairs, best first.
func (m *Model) predict(s *scratch, text string, k int, threshold float32) {
	s.heap = s.heap[:0]
	m.features(s, text)
	if len(s.ids) == 0 {
		return
	}
	clear(s.hidden)
	m.addRows(s.hidden, s.ids)
	m.classify(s, len(s.ids), k, threshold)
}

func (m *Model) addRows(h []float32, ids []int32) {
	for _, id := range ids {
		m.in.addRow(h, id)
	}
}

// classify fills s.heap from s.hidden, which holds the sum of n input rows.
func (m *Model) classify(s *scratch, n int, k int, threshold float32) {
	s.heap = s.heap[:0]
	if k <= 0 || k > int(m.nlabels) {
		k = int(m.nlabels)
	}
	h := s.hidden
	inv := float32(1.0 / float64(n))
	for i := range h {
		h[i] *= inv
	}
	switch m.args.Loss {
	case LossHS:
		m.dfs(s, k, stdLog(threshold), int32(2*m.nlabels-2), 0)
	case LossSoftmax:
		out := s.output
		for i := range out {
			out[i] = m.out.dot(h, i)
		}
		mx := out[0]
		for _, v := range out {
			mx = max(mx, v)
		}
		var z float32
		for i, v := range out {
			out[i] = expf(v - mx)
			z += out[i]
		}
		for i := range out {
			out[i] /= z
		}
		m.kBest(s, k, threshold)
	default: // ns, ova: BinaryLogisticLoss with the lookup-table sigmoid
		out := s.output
		for i := range out {
			out[i] = m.sigmoid(m.out.dot(h, i))
		}
		m.kBest(s, k, threshold)
	}
	s.sortHeap()
}

// predictHalves predicts text with k labels and its halves text[:cut] and
// text[cut:] with kHalf labels each, exactly as three predict calls would,
// appending to dst. When text[cut] separates words and the model has no
// word n-grams, the halves' tokens are the text's tokens split in two, so
// each token is looked up once; the row sums are built in the order predict
// adds them (first half, second half, end of line), which keeps every
// float32 result bit-identical.
func (m *Model) predictHalves(s *scratch, text string, cut, k, kHalf int, threshold float32, dst *[3][]Prediction) {
	if cut <= 0 || cut >= len(text) || !isSpace(text[cut]) || m.args.WordNgrams > 1 {
		m.predict(s, text, k, threshold)
		dst[0] = m.emit(dst[0], s)
		m.predict(s, text[:cut], kHalf, threshold)
		dst[1] = m.emit(dst[1], s)
		m.predict(s, text[cut:], kHalf, threshold)
		dst[2] = m.emit(dst[2], s)
		return
	}
	s.ids, s.hashes = s.ids[:0], s.hashes[:0]
	m.tokens(s, text[:cut])
	na := len(s.ids)
	m.tokens(s, text[cut:])
	nb := len(s.ids)
	m.addToken(s, eos)
	a, b, end := s.ids[:na], s.ids[na:nb], s.ids[nb:]
	if s.half == nil {
		s.half = make([]float32, len(s.hidden))
	}
	// Whole text: a, then b, then the end of line.
	clear(s.hidden)
	m.addRows(s.hidden, a)
	copy(s.half, s.hidden)
	m.addRows(s.hidden, b)
	m.addRows(s.hidden, end)
	s.heap = s.heap[:0]
	if len(s.ids) > 0 {
		m.classify(s, len(s.ids), k, threshold)
	}
	dst[0] = m.emit(dst[0], s)
	// First half: a, then the end of line.
	copy(s.hidden, s.half)
	m.addRows(s.hidden, end)
	s.heap = s.heap[:0]
	if n := len(a) + len(end); n > 0 {
		m.classify(s, n, kHalf, threshold)
	}
	dst[1] = m.emit(dst[1], s)
	// Second half: b, then the end of line.
	clear(s.hidden)
	m.addRows(s.hidden, b)
	m.addRows(s.hidden, end)
	s.heap = s.heap[:0]
	if n := len(b) + len(end); n > 0 {
		m.classify(s, n, kHalf, threshold)
	}
	dst[2] = m.emit(dst[2], s)
}

// The k best predictions are kept in a min-heap ordered exactly like libstdc++'s
// std::push_heap / pop_heap / sort_heap with fastText's comparePairs (a.score >
// b.score), so that even tied probabilities come out in the C++ order.

func heapLess(a, b scored) bool { return a.score > b.score } // comparePairs

// siftUp is __push_heap: move value up from hole towards top.
func siftUp(h []scored, hole, top int, v scored) {
	parent := (hole - 1) / 2
	for hole > top && heapLess(h[parent], v) {
		h[hole] = h[parent]
		hole = parent
		parent = (hole - 1) / 2
	}
	h[hole] = v
}

// adjust is __adjust_heap: sift the hole at index down to a leaf, then push v.
func adjust(h []scored, hole int, v scored) {
	n := len(h)
	top, child := hole, hole
	for child < (n-1)/2 {
		child = 2 * (child + 1)
		if heapLess(h[child], h[child-1]) {
			child--
		}
		h[hole] = h[child]
		hole = child
	}
	if n&1 == 0 && child == (n-2)/2 {
		child = 2 * (child + 1)
		h[hole] = h[child-1]
		hole = child - 1
	}
	siftUp(h, hole, top, v)
}

// popHeap moves the heap front to the end of h.
func popHeap(h []scored) {
	if n := len(h); n > 1 {
		v := h[n-1]
		h[n-1] = h[0]
		adjust(h[:n-1], 0, v)
	}
}

// insert pushes a prediction and drops the worst when more than k are kept.
func (s *scratch) insert(k int, sc float32, label int32) {
	s.heap = append(s.heap, scored{sc, label})
	siftUp(s.heap, len(s.heap)-1, 0, s.heap[len(s.heap)-1])
	if len(s.heap) > k {
		popHeap(s.heap)
		s.heap = s.heap[:len(s.heap)-1]
	}
}

// sortHeap is std::sort_heap: leaves s.heap best first.
func (s *scratch) sortHeap() {
	for n := len(s.heap); n > 1; n-- {
		popHeap(s.heap[:n])
	}
}

func (m *Model) kBest(s *scratch, k int, threshold float32) {
	for i, v := range s.output {
		if v < threshold {
			continue
		}
		sc := stdLog(v)
		if len(s.heap) == k && sc < s.heap[0].score {
			continue
		}
		s.insert(k, sc, int32(i))
	}
}

// dfs is HierarchicalSoftmaxLoss::dfs: a branch-and-bound walk of the Huffman tree.
func (m *Model) dfs(s *scratch, k int, logThreshold float32, node int32, score float32) {
	if score < logThreshold {
		return
	}
	if len(s.heap) == k && score < s.heap[0].score {
		return
	}
	left, right := m.treeLeft[node], m.treeRight[node]
	if left == -1 && right == -1 {
		s.insert(k, score, node)
		return
	}
	f := m.out.dot(s.hidden, int(node-m.nlabels))
	// 1. / (1 + std::exp(-f)) with a float exp, a float sum and a double division.
	f = float32(1.0 / float64(1+expf(-f)))
	m.dfs(s, k, logThreshold, left, score+stdLog(float32(1.0-float64(f))))
	m.dfs(s, k, logThreshold, right, score+stdLog(f))
}

const (
	sigmoidTableSize = 512
	maxSigmoid       = 8
)

func (m *Model) sigmoid(x float32) float32 {
	if x < -maxSigmoid {
		return 0
	}
	if x > maxSigmoid {
		return 1
	}
	i := int64((x + maxSigmoid) * sigmoidTableSize / maxSigmoid / 2)
	return m.sigmoidTable[i]
}

// buildLoss prepares what the loss needs: the Huffman tree built from label counts
// (HierarchicalSoftmaxLoss::buildTree) or the sigmoid table (Loss constructor).
func (m *Model) buildLoss() {
	switch m.args.Loss {
	case LossHS:
		osz := int(m.nlabels)
		n := 2*osz - 1
		left := make([]int32, n)
		right := make([]int32, n)
		count := make([]int64, n)
		for i := range n {
			left[i], right[i], count[i] = -1, -1, 1e15
		}
		copy(count, m.labelCounts)
		leaf, node := osz-1, osz
		for i := osz; i < n; i++ {
			var mini [2]int
			for j := range 2 {
				if leaf >= 0 && count[leaf] < count[node] {
					mini[j] = leaf
					leaf--
				} else {
					mini[j] = node
					node++
				}
			}
			left[i], right[i] = int32(mini[0]), int32(mini[1])
			count[i] = count[mini[0]] + count[mini[1]]
		}
		m.treeLeft, m.treeRight = left, right
	case LossNS, LossOVA:
		m.sigmoidTable = make([]float32, sigmoidTableSize+1)
		for i := range m.sigmoidTable {
			x := float32(i*2*maxSigmoid)/sigmoidTableSize - maxSigmoid
			m.sigmoidTable[i] = float32(1.0 / (1.0 + float64(expf(-x))))
		}
	}
}

func (m *Model) emit(dst []Prediction, s *scratch) []Prediction {
	for _, h := range s.heap {
		dst = append(dst, Prediction{Label: m.labels[h.label], Prob: expf(h.score)})
	}
	return dst
}

// Predict returns up to k labels (all labels if k < 1) whose probability is at least
// threshold, best first, as `fasttext predict-prob model - k threshold` prints them for
// text. The whole text is one line: newlines count as spaces. A text with no known
// feature (only unknown characters and no "</s>" in the vocabulary) gives nil.
func (m *Model) Predict(text string, k int, threshold float32) []Prediction {
	return m.PredictInto(nil, text, k, threshold)
}

// PredictInto is Predict appending to dst, for callers that reuse a buffer to avoid
// any allocation.
func (m *Model) PredictInto(dst []Prediction, text string, k int, threshold float32) []Prediction {
	s, _ := m.scratch.Get().(*scratch)
	if s == nil {
		s = m.newScratch()
	}
	m.predict(s, text, k, threshold)
	dst = m.emit(dst, s)
	m.scratch.Put(s)
	return dst
}

// PredictBatch predicts every text with `workers` goroutines (GOMAXPROCS if < 1);
// result i belongs to texts[i]. The results share one backing array.
func (m *Model) PredictBatch(texts []string, k int, threshold float32, workers int) [][]Prediction {
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	kk := k
	if kk <= 0 || kk > int(m.nlabels) {
		kk = int(m.nlabels)
	}
	out := make([][]Prediction, len(texts))
	backing := make([]Prediction, len(texts)*kk)
	const block = 64 // texts claimed per step: amortises the atomic, keeps balance
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, (len(texts)+block-1)/block) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := m.newScratch()
			for {
				lo := int(next.Add(block)) - block
				if lo >= len(texts) {
					return
				}
				for i := lo; i < min(lo+block, len(texts)); i++ {
					m.predict(s, texts[i], k, threshold)
					out[i] = m.emit(backing[i*kk:i*kk:(i+1)*kk], s)
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// PredictBatchHalves is PredictBatch for texts with k labels and, for each
// cuts[i] in (0, len(texts[i])), also for the halves texts[i][:cuts[i]] and
// texts[i][cuts[i]:] with kHalf labels each (halves[i] stays empty when
// cuts[i] is out of that range). The results equal separate Predict calls;
// cutting at a separator byte makes it cheaper, as the tokens are read once.
func (m *Model) PredictBatchHalves(texts []string, cuts []int, k, kHalf int, threshold float32, workers int) (whole [][]Prediction, halves [][2][]Prediction) {
	if len(cuts) != len(texts) {
		panic("fasttext: PredictBatchHalves needs one cut per text")
	}
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	kk, kh := k, kHalf
	if kk <= 0 || kk > int(m.nlabels) {
		kk = int(m.nlabels)
	}
	if kh <= 0 || kh > int(m.nlabels) {
		kh = int(m.nlabels)
	}
	whole = make([][]Prediction, len(texts))
	halves = make([][2][]Prediction, len(texts))
	per := kk + 2*kh
	backing := make([]Prediction, len(texts)*per)
	const block = 64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, (len(texts)+block-1)/block) {
		wg.Go(func() {
			s := m.newScratch()
			for {
				lo := int(next.Add(block)) - block
				if lo >= len(texts) {
					return
				}
				for i := lo; i < min(lo+block, len(texts)); i++ {
					t, c := texts[i], cuts[i]
					b := backing[i*per : (i+1)*per]
					if c <= 0 || c >= len(t) {
						m.predict(s, t, k, threshold)
						whole[i] = m.emit(b[:0:kk], s)
						continue
					}
					out := [3][]Prediction{b[:0:kk], b[kk : kk : kk+kh], b[kk+kh : kk+kh : per]}
					m.predictHalves(s, t, c, k, kHalf, threshold, &out)
					whole[i], halves[i] = out[0], [2][]Prediction{out[1], out[2]}
				}
			}
		})
	}
	wg.Wait()
	return whole, halves
}
