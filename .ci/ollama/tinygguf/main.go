// Command tinygguf writes a tiny llama-architecture model with random
// weights as a GGUF file, using Ollama's own GGUF writer, so that the tests
// can serve a real model with a real Ollama without downloading one.
//
// The model has two layers of width 64 and a SentencePiece vocabulary of
// control tokens, the 256 byte tokens (the tokenizer needs them to encode
// any text) and 147 ASCII pieces. Its output is gibberish that ends with
// a "." after about 30 tokens.
//
// Usage: tinygguf -o model.gguf [-seed 1]
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/ollama/ollama/fs/ggml"
)

const (
	embd   = 64
	layers = 2
	heads  = 4
	kvHead = 2
	ff     = 128
	ctxLen = 8192

	eos = 2 // token id of </s>
	// bias is dimension 0 of every embedding and dimension 1 of "."'s;
	// periodWeight and eosWeight scale them into the logits of "." and of
	// the end-of-sequence token.
	bias         = 4
	periodWeight = 1.3
	eosWeight    = 5
)

// Token types of the llama.cpp vocabulary.
const (
	typeNormal  int32 = 1
	typeUnknown int32 = 2
	typeControl int32 = 3
	typeByte    int32 = 6
)

func main() {
	out := flag.String("o", "", "file to write")
	seed := flag.Uint64("seed", 1, "seed of the random weights")
	flag.Parse()
	if *out == "" {
		log.Fatal("tinygguf: -o FILE is required")
	}
	if err := write(*out, *seed); err != nil {
		log.Fatalf("tinygguf: %v", err)
	}
}

func vocab() (tokens []string, scores []float32, types []int32) {
	add := func(s string, score float32, t int32) {
		tokens = append(tokens, s)
		scores = append(scores, score)
		types = append(types, t)
	}
	add("<unk>", 0, typeUnknown)
	add("<s>", 0, typeControl)
	add("</s>", 0, typeControl)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 0, typeByte)
	}
	// Single characters and a word-start marker with each letter: enough
	// for ASCII text to tokenize without bytes, and for generated text to be
	// mostly printable.
	add("\u2581", -1, typeNormal)
	for c := '!'; c <= '~'; c++ {
		add(string(c), -2, typeNormal)
	}
	for c := 'a'; c <= 'z'; c++ {
		add("\u2581"+string(c), -1.5, typeNormal)
	}
	for c := 'A'; c <= 'Z'; c++ {
		add("\u2581"+string(c), -1.5, typeNormal)
	}
	return tokens, scores, types
}

func write(path string, seed uint64) error {
	tokens, scores, types := vocab()
	nVocab := uint64(len(tokens))
	period := slices.Index(tokens, ".")
	rng := rand.New(rand.NewPCG(seed, 0x706f6c79676c6f74))

	kv := ggml.KV{
		"general.architecture":                   "llama",
		"general.name":                           "polyglot-tiny",
		"general.file_type":                      uint32(0), // all F32
		"llama.context_length":                   uint32(ctxLen),
		"llama.embedding_length":                 uint32(embd),
		"llama.block_count":                      uint32(layers),
		"llama.feed_forward_length":              uint32(ff),
		"llama.attention.head_count":             uint32(heads),
		"llama.attention.head_count_kv":          uint32(kvHead),
		"llama.rope.dimension_count":             uint32(embd / heads),
		"llama.rope.freq_base":                   float32(10000),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.vocab_size":                       uint32(nVocab),
		"tokenizer.ggml.model":                   "llama",
		"tokenizer.ggml.tokens":                  tokens,
		"tokenizer.ggml.scores":                  scores,
		"tokenizer.ggml.token_type":              types,
		"tokenizer.ggml.unknown_token_id":        uint32(0),
		"tokenizer.ggml.bos_token_id":            uint32(1),
		"tokenizer.ggml.eos_token_id":            uint32(eos),
		"tokenizer.ggml.add_bos_token":           true,
		"tokenizer.ggml.add_eos_token":           false,
	}

	// Shapes are in GGML order: the first dimension varies fastest, so
	// element i of a [in, out] matrix is input i%in of output i/in.
	//
	// Dimensions 0 and 1 of the residual stream are features of the token
	// alone: no layer writes to them. Dimension 0 is a constant (bias); the
	// output matrix reads it to give "." a steady share of the samples and
	// the control and byte tokens a very low logit, so the text is printable
	// ASCII gibberish, not stray bytes. Dimension 1 is set only for ".", and
	// gives the end-of-sequence token a logit that wins right after one: an
	// answer ends after about 30 tokens, with a ".", never empty, and with
	// finish_reason "stop" as a real model's does. Everything else is
	// random.
	normal := func(std float64) func(int) float32 {
		return func(int) float32 { return float32(rng.NormFloat64() * std) }
	}
	ones := func(int) float32 { return 1 }
	// Random, except the outputs into dimensions 0 and 1.
	noFeatures := func(in uint64, std float64) func(int) float32 {
		return func(i int) float32 {
			if uint64(i)/in < 2 {
				return 0
			}
			return float32(rng.NormFloat64() * std)
		}
	}
	var ts []*ggml.Tensor
	tensor := func(name string, f func(i int) float32, shape ...uint64) {
		n := uint64(1)
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = f(i)
		}
		ts = append(ts, &ggml.Tensor{Name: name, Kind: uint32(ggml.TensorTypeF32), Shape: shape, WriterTo: f32s(data)})
	}
	w := 1 / math.Sqrt(embd)
	tensor("token_embd.weight", func(i int) float32 {
		switch tok, d := i/embd, i%embd; {
		case d == 0:
			return bias
		case d == 1 && tok == period:
			return bias
		case d == 1:
			return 0
		}
		return float32(rng.NormFloat64())
	}, embd, nVocab)
	tensor("output_norm.weight", ones, embd)
	tensor("output.weight", func(i int) float32 {
		tok, d := i/embd, i%embd
		switch {
		case tok == eos && d == 1:
			return eosWeight
		case tok == eos:
			return 0
		case types[tok] != typeNormal && d == 0:
			return -3
		case types[tok] != typeNormal:
			return 0
		case tok == period && d == 0:
			return periodWeight
		case d < 2:
			return 0
		}
		return float32(rng.NormFloat64() * 0.3)
	}, embd, nVocab)
	for l := range layers {
		p := fmt.Sprintf("blk.%d.", l)
		tensor(p+"attn_norm.weight", ones, embd)
		tensor(p+"attn_q.weight", normal(w), embd, embd)
		tensor(p+"attn_k.weight", normal(w), embd, embd/heads*kvHead)
		tensor(p+"attn_v.weight", normal(w), embd, embd/heads*kvHead)
		tensor(p+"attn_output.weight", noFeatures(embd, w), embd, embd)
		tensor(p+"ffn_norm.weight", ones, embd)
		tensor(p+"ffn_gate.weight", normal(w), embd, ff)
		tensor(p+"ffn_up.weight", normal(w), embd, ff)
		tensor(p+"ffn_down.weight", noFeatures(ff, 1/math.Sqrt(ff)), ff, embd)
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := ggml.WriteGGUF(f, kv, ts); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// f32s writes its values little-endian, as GGUF stores F32 tensors.
type f32s []float32

func (v f32s) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	n, err := w.Write(buf)
	return int64(n), err
}
