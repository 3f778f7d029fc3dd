// Package cpu is polyglot's embedded default student: a character-level
// Kneser-Ney language model (package kn) that trains and evaluates in pure Go,
// anywhere, in minutes.
//
// It mirrors the study's extrinsic protocol (docs/method.md §4) at toy scale:
//
//   - base S_φ: a model trained on a small generic corpus (Build);
//   - student S: the base continued on one cell's (prompt, response) data (Train);
//   - reference S_ref: the base continued on held-in human data (Train again).
//
// A (prompt, response) pair is trained as the text prompt + Separator +
// response, and scored the same way: the response's characters given the
// prompt and separator as context.
//
// Evaluation (Evaluate) gives two benchmarks, each with a standard error over
// its items:
//
//   - "heldout": the negative bits per character of held-out human text
//     (−NLL/(n·ln 2), computed per document, averaged over documents). It is
//     higher-is-better, 0 is perfect, and differences are in bits per
//     character, so PGR ratios of it are meaningful;
//   - "mc": multiple-choice accuracy; a choice's score is its mean per-character
//     log-likelihood given the question (length-normalised so long choices are
//     not penalised), the highest wins, ties go to the earlier choice.
package cpu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/internal/kn"
)

// Separator joins a prompt and its response in training and scoring.
const Separator = "\n"

// Example is one (prompt, response) training pair.
type Example struct {
	Prompt, Response string
}

// Text is the example as the model is trained on it.
func (e Example) Text() string { return e.Prompt + Separator + e.Response }

// Hyper are the student's hyper-parameters.
type Hyper struct {
	// Order is the n-gram order; 0 means kn.DefaultOrder. With a base model
	// it must be 0 or equal to the base's order.
	Order int
	// Discount > 0 selects plain KN with that discount; 0 modified KN.
	Discount float64
	// Epochs counts each example this many times (0 means 1): the analogue of
	// training epochs, which up-weights a small cell against a large base.
	Epochs int
	// MaxExamples stops after this many examples (0: no limit).
	MaxExamples int
}

func (h Hyper) check() error {
	if h.Epochs < 0 || h.MaxExamples < 0 {
		return fmt.Errorf("cpu: epochs (%d) and max_examples (%d) must not be negative", h.Epochs, h.MaxExamples)
	}
	return nil
}

// Stats describe one training run.
type Stats struct {
	Examples int
	Chars    uint64 // characters added by this run (once per epoch)
	Duration time.Duration
}

// Build trains a base model on the texts of a generic corpus file (see
// ReadTexts for the formats).
func Build(ctx context.Context, corpusPath string, h Hyper) (*kn.Model, Stats, error) {
	if err := h.check(); err != nil {
		return nil, Stats{}, err
	}
	start := time.Now()
	m, err := kn.New(kn.Options{Order: h.Order, Discount: h.Discount})
	if err != nil {
		return nil, Stats{}, fmt.Errorf("cpu: %w", err)
	}
	var st Stats
	for text, err := range ReadTexts(corpusPath) {
		if err != nil {
			return nil, st, err
		}
		if st.Examples%1024 == 0 && ctx.Err() != nil {
			return nil, st, ctx.Err()
		}
		before := m.Chars()
		m.Add(text)
		st.Chars += m.Chars() - before
		st.Examples++
	}
	if st.Examples == 0 {
		return nil, st, fmt.Errorf("cpu: base corpus %s has no texts: give a file with one document per line", corpusPath)
	}
	st.Duration = time.Since(start)
	return m, st, nil
}

// Train returns a student: a copy of base (an empty model when base is nil)
// continued on data. base itself is not modified.
func Train(ctx context.Context, base *kn.Model, data iter.Seq2[Example, error], h Hyper) (*kn.Model, Stats, error) {
	if err := h.check(); err != nil {
		return nil, Stats{}, err
	}
	start := time.Now()
	var m *kn.Model
	if base != nil {
		if h.Order != 0 && h.Order != base.Order() {
			return nil, Stats{}, fmt.Errorf("cpu: order %d was asked for but the base model has order %d: drop the order setting or rebuild the base", h.Order, base.Order())
		}
		m = base.Clone()
	} else {
		var err error
		if m, err = kn.New(kn.Options{Order: h.Order, Discount: h.Discount}); err != nil {
			return nil, Stats{}, fmt.Errorf("cpu: %w", err)
		}
	}
	epochs := max(h.Epochs, 1)
	var st Stats
	for ex, err := range data {
		if err != nil {
			return nil, st, err
		}
		if h.MaxExamples > 0 && st.Examples >= h.MaxExamples {
			break
		}
		if st.Examples%1024 == 0 && ctx.Err() != nil {
			return nil, st, ctx.Err()
		}
		text := ex.Text()
		before := m.Chars()
		for range epochs {
			m.Add(text)
		}
		st.Chars += (m.Chars() - before) / uint64(epochs)
		st.Examples++
	}
	st.Duration = time.Since(start)
	return m, st, nil
}

// Result is one benchmark's score.
type Result struct {
	Benchmark string  `json:"benchmark"`
	Score     float64 `json:"score"`
	Stderr    float64 `json:"stderr"`
	N         int     `json:"n"`
}

// MCItem is one multiple-choice question.
type MCItem struct {
	ID       string   `json:"id"`
	Language string   `json:"language"`
	Question string   `json:"question"`
	Choices  []string `json:"choices"`
	Answer   int      `json:"answer"`
}

// meanStderr returns the mean of xs and its standard error (sample standard
// deviation / √n; 0 when n < 2).
func meanStderr(xs []float64) (mean, se float64) {
	n := float64(len(xs))
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if n < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / (n - 1) / n)
}

// HeldOut scores held-out documents: the mean over documents of their negative
// bits per character (higher is better). Empty documents are skipped.
func HeldOut(m *kn.Model, docs []string) Result {
	scores := make([]float64, 0, len(docs))
	for _, d := range docs {
		nll, n := m.Score("", d)
		if n == 0 {
			continue
		}
		scores = append(scores, -nll/(float64(n)*math.Ln2))
	}
	mean, se := meanStderr(scores)
	return Result{Benchmark: "heldout", Score: mean, Stderr: se, N: len(scores)}
}

// Choose returns the index of the choice with the highest mean per-character
// log-likelihood given the question.
func Choose(m *kn.Model, it MCItem) int {
	best, bestLL := 0, math.Inf(-1)
	for i, c := range it.Choices {
		nll, n := m.Score(it.Question+Separator, c)
		if ll := -nll / float64(max(n, 1)); ll > bestLL {
			best, bestLL = i, ll
		}
	}
	return best
}

// MultipleChoice returns the accuracy over items.
func MultipleChoice(m *kn.Model, items []MCItem) Result {
	hits := make([]float64, len(items))
	for i, it := range items {
		if Choose(m, it) == it.Answer {
			hits[i] = 1
		}
	}
	mean, se := meanStderr(hits)
	return Result{Benchmark: "mc", Score: mean, Stderr: se, N: len(items)}
}

// Evaluate runs both benchmarks; one whose input is empty is left out.
func Evaluate(m *kn.Model, heldout []string, mc []MCItem) []Result {
	var out []Result
	if len(heldout) > 0 {
		out = append(out, HeldOut(m, heldout))
	}
	if len(mc) > 0 {
		out = append(out, MultipleChoice(m, mc))
	}
	return out
}

// ---------------------------------------------------------------- input files

// readLines calls fn for each line of path with its 1-based number, stopping
// at fn's first error. Lines may be of any length (no bufio.Scanner limit).
func readLines(path string, fn func(no int, line string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cpu: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	for no := 1; ; no++ {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			if ferr := fn(no, strings.TrimRight(line, "\r\n")); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cpu: reading %s: %w", path, err)
		}
	}
}

var errStop = errors.New("stop")

// seq turns readLines into an iterator.
func seq[T any](path string, parse func(no int, line string) (T, bool, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		err := readLines(path, func(no int, line string) error {
			v, ok, err := parse(no, line)
			if err != nil {
				var zero T
				yield(zero, err)
				return errStop
			}
			if ok && !yield(v, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			var zero T
			yield(zero, err)
		}
	}
}

// record is the union of the JSONL shapes polyglot reads.
type record struct {
	Text     *string `json:"text"`
	Prompt   *string `json:"prompt"`
	Response *string `json:"response"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

// example turns a record into a pair: prompt/response fields, or a chat
// whose last assistant turn is the response and everything before it the
// prompt.
func (r record) example() (Example, bool) {
	if r.Prompt != nil && r.Response != nil {
		return Example{*r.Prompt, *r.Response}, true
	}
	last := -1
	for i, m := range r.Messages {
		if m.Role == "assistant" {
			last = i
		}
	}
	if last < 0 {
		return Example{}, false
	}
	var parts []string
	for _, m := range r.Messages[:last] {
		if m.Role != "system" {
			parts = append(parts, m.Content)
		}
	}
	return Example{strings.Join(parts, Separator), r.Messages[last].Content}, true
}

func isJSONL(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".jsonl" || ext == ".ndjson"
}

// ReadExamples streams (prompt, response) pairs from a JSONL file whose lines
// are either {"prompt":…, "response":…} or chat format
// {"messages":[{"role":"user",…},{"role":"assistant",…}]}. Blank lines are
// skipped.
func ReadExamples(path string) iter.Seq2[Example, error] {
	return seq(path, func(no int, line string) (Example, bool, error) {
		if strings.TrimSpace(line) == "" {
			return Example{}, false, nil
		}
		var r record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return Example{}, false, fmt.Errorf("cpu: %s:%d: not a JSON object: %v", path, no, err)
		}
		ex, ok := r.example()
		if !ok {
			return Example{}, false, fmt.Errorf("cpu: %s:%d: need \"prompt\" and \"response\" fields or \"messages\" with an assistant turn", path, no)
		}
		return ex, true, nil
	})
}

// ReadTexts streams documents from a file: a .jsonl file gives one document
// per line ({"text":…}, a prompt/response pair or a chat, joined with
// Separator); any other file gives one document per non-blank line.
func ReadTexts(path string) iter.Seq2[string, error] {
	if !isJSONL(path) {
		return seq(path, func(no int, line string) (string, bool, error) {
			return line, strings.TrimSpace(line) != "", nil
		})
	}
	return seq(path, func(no int, line string) (string, bool, error) {
		if strings.TrimSpace(line) == "" {
			return "", false, nil
		}
		var r record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return "", false, fmt.Errorf("cpu: %s:%d: not a JSON object: %v", path, no, err)
		}
		if r.Text != nil {
			return *r.Text, true, nil
		}
		if ex, ok := r.example(); ok {
			return ex.Text(), true, nil
		}
		return "", false, fmt.Errorf("cpu: %s:%d: need a \"text\" field, \"prompt\"/\"response\" or \"messages\"", path, no)
	})
}

// ReadDocs reads every document of a file (see ReadTexts).
func ReadDocs(path string) ([]string, error) {
	var out []string
	for d, err := range ReadTexts(path) {
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ReadMC reads multiple-choice items from a JSONL file and checks each.
func ReadMC(path string) ([]MCItem, error) {
	var out []MCItem
	for it, err := range seq(path, func(no int, line string) (MCItem, bool, error) {
		if strings.TrimSpace(line) == "" {
			return MCItem{}, false, nil
		}
		var it MCItem
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&it); err != nil {
			return it, false, fmt.Errorf("cpu: %s:%d: bad multiple-choice item (want id, language, question, choices, answer): %v", path, no, err)
		}
		switch {
		case len(it.Choices) < 2:
			return it, false, fmt.Errorf("cpu: %s:%d: item %q has %d choices; give at least 2", path, no, it.ID, len(it.Choices))
		case it.Answer < 0 || it.Answer >= len(it.Choices):
			return it, false, fmt.Errorf("cpu: %s:%d: item %q has answer %d; it must index choices (0 to %d)", path, no, it.ID, it.Answer, len(it.Choices)-1)
		}
		for i, c := range it.Choices {
			if c == "" {
				return it, false, fmt.Errorf("cpu: %s:%d: item %q choice %d is empty", path, no, it.ID, i)
			}
		}
		return it, true, nil
	}) {
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cpu: %s has no multiple-choice items", path)
	}
	return out, nil
}
