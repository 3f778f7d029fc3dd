package cpu

import (
	"context"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/polyglot-teachers/polyglot/plugins/internal/kn"
)

// quickstart is the example data a colleague maintains.
var quickstart = filepath.Join("..", "..", "..", "examples", "quickstart", "data")

var languages = []string{"ar", "cs", "de", "es", "id", "ja", "tl", "sw"}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// scriptOf buckets a rune so that text without spaces can be cut into
// pseudo-words at script changes (kanji / hiragana / katakana / other).
func scriptOf(r rune) int {
	switch {
	case unicode.Is(unicode.Han, r):
		return 1
	case unicode.Is(unicode.Hiragana, r):
		return 2
	case unicode.Is(unicode.Katakana, r):
		return 3
	case unicode.IsPunct(r) || unicode.IsSpace(r):
		return 4
	}
	return 0
}

// words splits text into words: at whitespace, or, for scripts written
// without spaces, at script changes.
func words(s string) []string {
	f := strings.Fields(s)
	if len(f) >= len([]rune(s))/15 {
		return f
	}
	var out []string
	var cur []rune
	for _, r := range s {
		if len(cur) > 0 && scriptOf(r) != scriptOf(cur[len(cur)-1]) {
			out = append(out, string(cur))
			cur = cur[:0]
		}
		if !unicode.IsSpace(r) {
			cur = append(cur, r)
		}
	}
	if len(cur) > 0 {
		out = append(out, string(cur))
	}
	return out
}

// shuffleWords permutes the words of s; the joiner is a space when s had
// spaces, nothing otherwise.
func shuffleWords(rng *rand.Rand, s string) string {
	w := words(s)
	rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
	sep := " "
	if !strings.ContainsFunc(s, unicode.IsSpace) {
		sep = ""
	}
	return strings.Join(w, sep)
}

func shuffled(seed uint64, data iter.Seq2[Example, error]) iter.Seq2[Example, error] {
	rng := rand.New(rand.NewPCG(seed, 7))
	return func(yield func(Example, error) bool) {
		for ex, err := range data {
			ex.Response = shuffleWords(rng, ex.Response)
			if !yield(ex, err) {
				return
			}
		}
	}
}

type cellFiles struct{ train, heldout, mc, reference, base string }

// fluentVsShuffled trains both students on the same base and checks that the
// fluent one wins on held-out text. It returns the per-document paired gains
// (bits per character) so callers can also test their significance.
func fluentVsShuffled(t *testing.T, f cellFiles) []float64 {
	t.Helper()
	ctx := context.Background()
	var base *kn.Model
	if f.base != "" {
		var err error
		if base, _, err = Build(ctx, f.base, Hyper{}); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := ReadDocs(f.heldout)
	if err != nil {
		t.Fatal(err)
	}
	var mc []MCItem
	if f.mc != "" && exists(f.mc) {
		if mc, err = ReadMC(f.mc); err != nil {
			t.Fatal(err)
		}
	}
	fluent, st, err := Train(ctx, base, ReadExamples(f.train), Hyper{})
	if err != nil {
		t.Fatal(err)
	}
	evalStart := time.Now()
	fr := Evaluate(fluent, docs, mc)
	evalTime := time.Since(evalStart)
	shuf, _, err := Train(ctx, base, shuffled(1, ReadExamples(f.train)), Hyper{})
	if err != nil {
		t.Fatal(err)
	}
	sr := Evaluate(shuf, docs, mc)
	t.Logf("train %d examples / %d chars in %v; evaluate %d docs + %d mc in %v", st.Examples, st.Chars, st.Duration, len(docs), len(mc), evalTime)
	for i := range fr {
		t.Logf("%-8s fluent %.4f ± %.4f   shuffled %.4f ± %.4f  (n=%d)", fr[i].Benchmark, fr[i].Score, fr[i].Stderr, sr[i].Score, sr[i].Stderr, fr[i].N)
	}
	if f.reference != "" && exists(f.reference) {
		ref, _, err := Train(ctx, base, textsAsExamples(f.reference), Hyper{})
		if err != nil {
			t.Fatal(err)
		}
		r := HeldOut(ref, docs)
		t.Logf("reference heldout %.4f ± %.4f", r.Score, r.Stderr)
	}
	// Paired comparison: per document, fluent minus shuffled bits per char.
	diffs := make([]float64, 0, len(docs))
	for _, d := range docs {
		a, n := fluent.Score("", d)
		b, _ := shuf.Score("", d)
		if n > 0 {
			diffs = append(diffs, (b-a)/(float64(n)*math.Ln2))
		}
	}
	mean, se := meanStderr(diffs)
	t.Logf("paired gain of fluent over shuffled: %.4f ± %.4f bits/char (t = %.1f)", mean, se, mean/se)
	if !(mean > 0) {
		t.Errorf("fluent student does not beat the shuffled one: gain %.4f ± %.4f bits/char", mean, se)
	}
	if fr[0].Score <= sr[0].Score {
		t.Errorf("heldout score fluent %.4f ≤ shuffled %.4f", fr[0].Score, sr[0].Score)
	}
	return diffs
}

// requireSignificant fails unless the mean paired gain is more than two
// standard errors above zero.
func requireSignificant(t *testing.T, what string, diffs []float64) {
	t.Helper()
	mean, se := meanStderr(diffs)
	t.Logf("%s: gain %.4f ± %.4f bits/char over %d documents", what, mean, se, len(diffs))
	if !(mean > 2*se) {
		t.Errorf("%s: fluent's gain %.4f ± %.4f bits/char is not significant", what, mean, se)
	}
}

// textsAsExamples makes prompt-less examples from a text file.
func textsAsExamples(path string) iter.Seq2[Example, error] {
	return func(yield func(Example, error) bool) {
		for s, err := range ReadTexts(path) {
			if !yield(Example{Response: s}, err) {
				return
			}
		}
	}
}

func TestFluentBeatsShuffledQuickstart(t *testing.T) {
	found := 0
	var pooled []float64
	for _, lang := range languages {
		f := cellFiles{
			train:     filepath.Join(quickstart, "seeds", lang+".jsonl"),
			heldout:   filepath.Join(quickstart, "heldout", lang+".txt"),
			mc:        filepath.Join(quickstart, "mc", lang+".jsonl"),
			reference: filepath.Join(quickstart, "reference", lang+".txt"),
			base:      filepath.Join("testdata", "generic.txt"),
		}
		if !exists(f.train) || !exists(f.heldout) {
			continue
		}
		found++
		t.Run(lang, func(t *testing.T) { pooled = append(pooled, fluentVsShuffled(t, f)...) })
	}
	if found == 0 {
		t.Fatalf("no quickstart language has both seeds/<lang>.jsonl and heldout/<lang>.txt under %s", quickstart)
	}
	// With 100 examples a language, one language's gain can be within noise
	// (Indonesian: about one standard error); pooled, it must not be.
	requireSignificant(t, "all languages", pooled)
}

func TestFluentBeatsShuffledFixture(t *testing.T) {
	diffs := fluentVsShuffled(t, cellFiles{
		train:   filepath.Join("testdata", "train.jsonl"),
		heldout: filepath.Join("testdata", "heldout.txt"),
		mc:      filepath.Join("testdata", "mc.jsonl"),
		base:    filepath.Join("testdata", "generic.txt"),
	})
	requireSignificant(t, "fixture", diffs)
}

func TestShuffleWords(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct{ in string }{
		{"the cat sat on the warm mat today"},
		{"川はゆっくりと古い水車小屋のそばを流れ、粉屋は戸口からそれを見ていた。"},
	}
	for _, c := range cases {
		out := shuffleWords(rng, c.in)
		a, b := []rune(strings.ReplaceAll(c.in, " ", "")), []rune(strings.ReplaceAll(out, " ", ""))
		if len(a) != len(b) || out == c.in {
			t.Errorf("shuffleWords(%q) = %q: want a different order of the same characters", c.in, out)
		}
		if len(words(c.in)) < 5 {
			t.Errorf("words(%q) found only %d words", c.in, len(words(c.in)))
		}
	}
}

// Hand check of the two scores on a model small enough to reason about.
func TestEvaluateArithmetic(t *testing.T) {
	m, err := kn.New(kn.Options{Order: 2, Discount: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	m.Add("ab")
	m.Add("ba")
	// From kn's hand-computed test: P(a|^) = 23/48, P(b|a) = 35/48, so "ab"
	// costs −log2(23/48 · 35/48) bits over 2 characters; P(b|^) = 23/48 and
	// P(a|b) = 35/48 by symmetry, so "ba" costs the same.
	want := math.Log2(23.0/48*35.0/48) / 2
	r := HeldOut(m, []string{"ab", "ba", ""})
	if r.N != 2 || math.Abs(r.Score-want) > 1e-12 || r.Stderr != 0 {
		t.Errorf("HeldOut = %+v, want score %g stderr 0 n 2", r, want)
	}
	// Given "a\n" the next character is scored by backing off; a choice
	// repeating the training bigram "ab" beats "aa".
	items := []MCItem{
		{ID: "1", Question: "x", Choices: []string{"aa", "ab"}, Answer: 1},
		{ID: "2", Question: "x", Choices: []string{"ab", "aa"}, Answer: 1},
	}
	if got := Choose(m, items[0]); got != 1 {
		t.Errorf("Choose = %d, want 1", got)
	}
	acc := MultipleChoice(m, items)
	// One hit, one miss: mean 0.5, sample sd √0.5, stderr √0.5/√2 = 0.5.
	if acc.Score != 0.5 || math.Abs(acc.Stderr-0.5) > 1e-12 || acc.N != 2 {
		t.Errorf("MultipleChoice = %+v, want 0.5 ± 0.5 over 2", acc)
	}
}

func TestTrainKeepsBaseAndHonoursHyper(t *testing.T) {
	ctx := context.Background()
	base, bst, err := Build(ctx, filepath.Join("testdata", "generic.txt"), Hyper{Order: 4})
	if err != nil {
		t.Fatal(err)
	}
	if bst.Examples != 6 {
		t.Errorf("base built from %d lines, want 6", bst.Examples)
	}
	before := base.Chars()
	s1, st, err := Train(ctx, base, ReadExamples(filepath.Join("testdata", "train.jsonl")), Hyper{MaxExamples: 5})
	if err != nil {
		t.Fatal(err)
	}
	if base.Chars() != before {
		t.Error("Train modified the base model")
	}
	if st.Examples != 5 || s1.Chars() != before+st.Chars {
		t.Errorf("trained %d examples adding %d chars; model has %d, base %d", st.Examples, st.Chars, s1.Chars(), before)
	}
	s2, _, err := Train(ctx, base, ReadExamples(filepath.Join("testdata", "train.jsonl")), Hyper{MaxExamples: 5, Epochs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Chars() != before+3*st.Chars {
		t.Errorf("3 epochs: model has %d chars, want %d", s2.Chars(), before+3*st.Chars)
	}
	if _, _, err := Train(ctx, base, ReadExamples(filepath.Join("testdata", "train.jsonl")), Hyper{Order: 5}); err == nil {
		t.Error("order mismatch with the base was accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := Train(cctx, nil, ReadExamples(filepath.Join("testdata", "train.jsonl")), Hyper{}); err == nil {
		t.Error("Train ignored a cancelled context")
	}
}

func TestReadersReportWhereAndWhat(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mcCases := []struct{ name, content, want string }{
		{"few.jsonl", `{"id":"a","language":"de","question":"q","choices":["x"],"answer":0}`, ":1: item \"a\" has 1 choices"},
		{"range.jsonl", "\n" + `{"id":"b","language":"de","question":"q","choices":["x","y"],"answer":2}`, ":2: item \"b\" has answer 2"},
		{"unknown.jsonl", `{"id":"c","question":"q","choices":["x","y"],"answer":0,"gold":1}`, "unknown field"},
		{"empty-choice.jsonl", `{"id":"d","question":"q","choices":["x",""],"answer":0}`, "choice 1 is empty"},
		{"nothing.jsonl", "\n\n", "no multiple-choice items"},
	}
	for _, c := range mcCases {
		_, err := ReadMC(write(c.name, c.content))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("ReadMC(%s) error = %v, want it to name the file and say %q", c.name, err, c.want)
		}
	}
	exCases := []struct{ name, content, want string }{
		{"notjson.jsonl", "{\"prompt\":\"a\",\"response\":\"b\"}\nnot json\n", ":2: not a JSON object"},
		{"noassistant.jsonl", `{"messages":[{"role":"user","content":"hi"}]}`, ":1: need \"prompt\""},
	}
	for _, c := range exCases {
		var err error
		for _, e := range ReadExamples(write(c.name, c.content)) {
			if e != nil {
				err = e
			}
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadExamples(%s) error = %v, want %q", c.name, err, c.want)
		}
	}
	// Chat format: system turns are dropped, earlier turns form the prompt.
	p := write("chat.jsonl", `{"messages":[{"role":"system","content":"S"},{"role":"user","content":"U1"},{"role":"assistant","content":"A1"},{"role":"user","content":"U2"},{"role":"assistant","content":"A2"}]}`+"\n")
	for ex, err := range ReadExamples(p) {
		if err != nil {
			t.Fatal(err)
		}
		if want := (Example{"U1\nA1\nU2", "A2"}); ex != want {
			t.Errorf("chat example = %+v, want %+v", ex, want)
		}
	}
	if _, err := ReadDocs(filepath.Join(dir, "missing.txt")); err == nil {
		t.Error("reading a missing file succeeded")
	}
}
