package compose

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/parquet-go/parquet-go"

	"github.com/polyglot-teachers/polyglot/sdk/minhash"
)

// Item is one benchmark item: its texts are what rows are compared with.
type Item struct {
	File  string // base name of its file
	ID    string // the item's id field, or "LINE" of the file
	Texts []string
}

// token is a word of a normalised text: its hash and where it is.
type token struct {
	h          uint64
	start, end int
}

// noSpaceScript reports scripts written without spaces between words:
// each character is a word, as n-gram decontamination does for them.
func noSpaceScript(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar, unicode.Tibetan)
}

// tokenize appends the words of a normalised text: runs of letters, marks
// and digits, and single characters of scripts without spaces. Written by
// hand: UAX #29 word segmentation (clipperhouse/uax29) leaves Thai and
// runs of kana whole, and costs more per row than this scan.
func tokenize(dst []token, s string) []token {
	start := -1
	var h uint64
	flush := func(end int) {
		if start >= 0 {
			dst = append(dst, token{h: mix(h), start: start, end: end})
			start = -1
		}
	}
	for i, r := range s {
		word := r < 0x80 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') ||
			r >= 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r))
		if !word {
			flush(i)
			continue
		}
		if r >= 0x2E80 && noSpaceScript(r) && !unicode.Is(unicode.Mn, r) {
			flush(i)
			dst = append(dst, token{h: mix(fnvRune(fnvOffset, r)), start: i, end: i + len(string(r))})
			continue
		}
		if start < 0 {
			start, h = i, fnvOffset
		}
		h = fnvRune(h, r)
	}
	flush(len(s))
	return dst
}

const fnvOffset = 14695981039346656037

func fnvRune(h uint64, r rune) uint64 { return (h ^ uint64(r)) * 1099511628211 }

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// gramPrime is the base of the polynomial gram hash (odd, so powers never
// vanish mod 2^64).
const gramPrime = 0x100000001b3

// gramHash hashes a run of token hashes; order matters. It is a polynomial
// in the token hashes, so Check can slide it along a row in O(1) a step,
// finished by mix.
func gramHash(ts []token) uint64 {
	var h uint64
	for _, t := range ts {
		h = h*gramPrime + t.h
	}
	return mix(h ^ uint64(len(ts)))
}

// pow is gramPrime^n mod 2^64.
func pow(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= gramPrime
	}
	return p
}

// Contamination is the benchmark index: every n-gram of every item, and
// the whole of the items shorter than n.
type Contamination struct {
	n, minTokens int
	grams        map[uint64]int32 // gram → item
	short        map[uint64]int32 // whole short item (hash of its tokens) → item
	shortLens    []int            // the lengths of the short items, ascending
	// bits is a one-hash Bloom filter of grams and short items: most of a
	// row's windows miss it, and a bit test costs far less than a map probe
	// (which was a third of a composition's CPU).
	bits     []uint64
	shift    uint
	Items    []Item
	TooShort int // items below min_tokens, not checked
}

// NewContamination indexes items.
func NewContamination(items []Item, n, minTokens int) *Contamination {
	c := &Contamination{n: n, minTokens: minTokens, grams: map[uint64]int32{}, short: map[uint64]int32{}, Items: items}
	lens := map[int]bool{}
	var ts []token
	for i, it := range items {
		checked := false
		for _, text := range it.Texts {
			ts = tokenize(ts[:0], minhash.Normalize(text))
			switch {
			case len(ts) >= n:
				for j := 0; j+n <= len(ts); j++ {
					if _, ok := c.grams[gramHash(ts[j:j+n])]; !ok {
						c.grams[gramHash(ts[j:j+n])] = int32(i)
					}
				}
				checked = true
			case len(ts) >= minTokens:
				h := gramHash(ts)
				if _, ok := c.short[h]; !ok {
					c.short[h] = int32(i)
				}
				lens[len(ts)] = true
				checked = true
			}
		}
		if !checked {
			c.TooShort++
		}
	}
	for l := range lens {
		c.shortLens = append(c.shortLens, l)
	}
	slices.Sort(c.shortLens)
	logBits := uint(16)
	for logBits < 28 && 1<<logBits < 16*(len(c.grams)+len(c.short)) {
		logBits++
	}
	c.bits, c.shift = make([]uint64, 1<<(logBits-6)), 64-logBits
	for _, m := range []map[uint64]int32{c.grams, c.short} {
		for h := range m {
			b := h >> c.shift
			c.bits[b>>6] |= 1 << (b & 63)
		}
	}
	return c
}

func (c *Contamination) maybe(h uint64) bool {
	b := h >> c.shift
	return c.bits[b>>6]&(1<<(b&63)) != 0
}

// scan slides a window of n tokens along ts and returns the first window
// whose hash is in m.
func (c *Contamination) scan(ts []token, n int, m map[uint64]int32) (int, int32, bool) {
	if len(ts) < n {
		return 0, 0, false
	}
	top := pow(n - 1)
	var h uint64
	for _, t := range ts[:n] {
		h = h*gramPrime + t.h
	}
	for j := 0; ; j++ {
		if g := mix(h ^ uint64(n)); c.maybe(g) {
			if it, ok := m[g]; ok {
				return j, it, true
			}
		}
		if j+n >= len(ts) {
			return 0, 0, false
		}
		h = (h-ts[j].h*top)*gramPrime + ts[j+n].h
	}
}

// Hit is the first benchmark item a text overlaps.
type Hit struct {
	Item int    // index in Items
	Gram string // the overlapping words, as they appear in the normalised row
}

// Check returns the first item the normalised text s shares an n-gram
// with (or contains whole, for short items). ts is scratch space.
func (c *Contamination) Check(s string, ts []token) (Hit, bool, []token) {
	ts = tokenize(ts[:0], s)
	if len(c.grams) > 0 {
		if j, it, ok := c.scan(ts, c.n, c.grams); ok {
			return Hit{Item: int(it), Gram: s[ts[j].start:ts[j+c.n-1].end]}, true, ts
		}
	}
	for _, l := range c.shortLens {
		if j, it, ok := c.scan(ts, l, c.short); ok {
			return Hit{Item: int(it), Gram: s[ts[j].start:ts[j+l-1].end]}, true, ts
		}
	}
	return Hit{}, false, ts
}

// Tokens counts the words of s as the decontamination cuts them.
func Tokens(s string, ts []token) (int, []token) {
	ts = tokenize(ts[:0], s)
	return len(ts), ts
}

// ReadItems reads a benchmark file. The fields compared are fields when
// given; otherwise by shape: question (or prompt, problem, input, text)
// and its options (choices, options, option_a..., A...), which covers the
// quickstart's multiple-choice items, Global-MMLU-Lite and M-RewardBench;
// a TSV without a header is MGSM's question<TAB>answer.
func ReadItems(path string, fields []string) ([]Item, error) {
	base := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("benchmark file %s: %w", path, err)
	}
	defer f.Close()
	var items []Item
	add := func(line int, rec map[string]any) error {
		it := Item{File: base, ID: fmt.Sprint(line)}
		for _, k := range []string{"id", "sample_id", "_id", "item_id", "uid"} {
			if v, ok := rec[k]; ok && v != nil && fmt.Sprint(v) != "" {
				it.ID = fmt.Sprint(v)
				break
			}
		}
		it.Texts = itemTexts(rec, fields)
		if len(it.Texts) == 0 {
			return fmt.Errorf("%s:%d: no text to compare: the item has none of the fields %s; name them with decontaminate.fields", path, line, strings.Join(wantFields(fields), ", "))
		}
		items = append(items, it)
		return nil
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".jsonl", ".json", ".ndjson":
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for line := 1; sc.Scan(); line++ {
			b := strings.TrimSpace(sc.Text())
			if b == "" {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(b), &rec); err != nil {
				return nil, fmt.Errorf("%s:%d: not a JSON object (%v); benchmark files hold one item per line", path, line, err)
			}
			if err := add(line, rec); err != nil {
				return nil, err
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	case ".csv", ".tsv":
		r := csv.NewReader(bufio.NewReader(f))
		r.FieldsPerRecord = -1
		r.LazyQuotes = true
		if ext == ".tsv" {
			r.Comma = '\t'
		}
		var header []string
		for line := 1; ; line++ {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, line, err)
			}
			if line == 1 && hasKnownField(rec, fields) {
				header = rec
				continue
			}
			m := map[string]any{}
			if header == nil {
				// MGSM: question<TAB>answer, no header.
				m["question"] = rec[0]
			} else {
				for i, h := range header {
					if i < len(rec) {
						m[h] = rec[i]
					}
				}
			}
			if err := add(line, m); err != nil {
				return nil, err
			}
		}
	case ".parquet":
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			return nil, fmt.Errorf("%s: not a readable Parquet file (%v)", path, err)
		}
		rd := parquet.NewGenericReader[map[string]any](pf, pf.Schema())
		defer rd.Close()
		buf := make([]map[string]any, 64)
		line := 0
		for {
			for i := range buf {
				buf[i] = map[string]any{}
			}
			n, err := rd.Read(buf)
			for _, rec := range buf[:n] {
				line++
				if err := add(line, rec); err != nil {
					return nil, err
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: row %d: %w", path, line, err)
			}
		}
	default:
		return nil, fmt.Errorf("benchmark file %s: unknown format %q; give JSONL, CSV, TSV or Parquet", path, ext)
	}
	return items, nil
}

var (
	questionFields = []string{"question", "prompt", "problem", "input", "text", "query"}
	optionFields   = []string{"choices", "options", "option_a", "option_b", "option_c", "option_d", "A", "B", "C", "D"}
)

func wantFields(fields []string) []string {
	if len(fields) > 0 {
		return fields
	}
	return append(append([]string{}, questionFields...), optionFields...)
}

func hasKnownField(header []string, fields []string) bool {
	for _, h := range header {
		for _, f := range wantFields(fields) {
			if h == f {
				return true
			}
		}
	}
	return false
}

// itemTexts are the texts of an item: with fields, each named field; by
// shape, the question alone and the question followed by its options
// (so that a row quoting the question with its options matches even when
// the question alone is shorter than an n-gram).
func itemTexts(rec map[string]any, fields []string) []string {
	str := func(v any) []string {
		switch x := v.(type) {
		case string:
			if strings.TrimSpace(x) != "" {
				return []string{x}
			}
		case []any:
			var out []string
			for _, e := range x {
				if s, ok := e.(string); ok && strings.TrimSpace(s) != "" {
					out = append(out, s)
				}
			}
			return out
		}
		return nil
	}
	if len(fields) > 0 {
		var out []string
		for _, f := range fields {
			out = append(out, strings.Join(str(rec[f]), "\n"))
		}
		return nonEmpty(out)
	}
	q := ""
	for _, f := range questionFields {
		if s := str(rec[f]); len(s) > 0 {
			q = strings.Join(s, "\n")
			break
		}
	}
	if q == "" {
		return nil
	}
	var opts []string
	for _, f := range optionFields {
		opts = append(opts, str(rec[f])...)
	}
	if len(opts) == 0 {
		return []string{q}
	}
	return []string{q, q + "\n" + strings.Join(opts, "\n")}
}

func nonEmpty(xs []string) []string {
	var out []string
	for _, x := range xs {
		if strings.TrimSpace(x) != "" {
			out = append(out, x)
		}
	}
	return out
}
