// Package ngram is a character n-gram language model per language (naive
// Bayes over the 1- to 4-grams of lower-cased letters), used by langid as a
// second opinion next to fastText's lid.176.ftz.
//
// lid.176.ftz is compressed to 917 KiB at some cost to smaller languages:
// on human Swahili prose its top answer is right for only about 70% of
// texts, while a profile built from a few thousand words of each language
// gets most of them. The two err differently, so langid adds their evidence.
//
// A Profile keeps, per language, the log probabilities of its K most
// frequent n-grams and a floor for every other n-gram (the K-th probability
// halved). It is stored as gzipped text, one n-gram per line with its
// postings, so a diff of a regenerated profile can be read.
package ngram

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxN is the longest n-gram used.
const MaxN = 4

// Grams calls fn with each 1- to MaxN-gram of text after normalising it:
// lower case, letters and combining marks kept, every other run of
// characters one space, a space at each end. The single space is no gram.
func Grams(text string, fn func(string)) {
	grams(text, func(g []byte) { fn(string(g)) })
}

// grams is Grams with each gram in a buffer that fn must not keep, so that
// map lookups by string(g) need no allocation.
func grams(text string, fn func([]byte)) {
	rs := normalize(text, nil)
	buf := make([]byte, 0, 4*MaxN)
	for n := 1; n <= MaxN; n++ {
		for i := 0; i+n <= len(rs); i++ {
			if g, ok := gramAt(rs, i, n, buf); ok {
				fn(g)
			}
		}
	}
}

// normalize appends text's normalised characters to rs: a space, then lower
// case letters and combining marks, every other run of characters one
// space, and a space at the end; nothing when text has no letters.
func normalize(text string, rs []rune) []rune {
	rs = append(rs[:0], ' ')
	for _, r := range text {
		switch {
		case unicode.IsLetter(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r):
			rs = append(rs, unicode.ToLower(r))
		case rs[len(rs)-1] != ' ':
			rs = append(rs, ' ')
		}
	}
	if rs[len(rs)-1] != ' ' {
		rs = append(rs, ' ')
	}
	if len(rs) == 1 {
		return rs[:0]
	}
	return rs
}

// gramAt is the n-gram of rs at i, encoded in buf; a lone space is no gram.
func gramAt(rs []rune, i, n int, buf []byte) ([]byte, bool) {
	if n == 1 && rs[i] == ' ' {
		return nil, false
	}
	buf = buf[:0]
	for _, r := range rs[i : i+n] {
		buf = utf8.AppendRune(buf, r)
	}
	return buf, true
}

type posting struct {
	lang uint16
	gain float32 // log p(gram | lang) - floor[lang], > 0
}

// Profile holds the n-gram models of several languages.
type Profile struct {
	langs []string
	floor []float32 // log probability of an n-gram the language does not keep
	// index holds where each n-gram's postings are in posts: an 8-byte
	// value instead of a slice header keeps the map (a lookup per n-gram of
	// every text) small enough to stay in cache longer.
	index map[string]span
	posts []posting
}

// span locates an n-gram's postings in Profile.posts.
type span struct{ off, n uint32 }

// postings returns the postings of the n-gram g (nil when not kept).
func (p *Profile) postings(g []byte) []posting {
	sp, ok := p.index[string(g)]
	if !ok {
		return nil
	}
	return p.posts[sp.off : sp.off+sp.n]
}

// compact moves postings gathered per n-gram into index and posts.
func (p *Profile) compact(byGram map[string][]posting) {
	grams := make([]string, 0, len(byGram))
	for g := range byGram {
		grams = append(grams, g)
	}
	sort.Strings(grams)
	p.index = make(map[string]span, len(grams))
	for _, g := range grams {
		p.index[g] = span{uint32(len(p.posts)), uint32(len(byGram[g]))}
		p.posts = append(p.posts, byGram[g]...)
	}
}

// Langs returns the languages of the profile, sorted.
func (p *Profile) Langs() []string { return append([]string(nil), p.langs...) }

// Train builds a profile from text per language, keeping the k most frequent
// n-grams of each. Probabilities are smoothed by adding 0.5 to every count.
func Train(texts map[string][]string, k int) *Profile {
	p := &Profile{}
	byGram := map[string][]posting{}
	for l := range texts {
		p.langs = append(p.langs, l)
	}
	sort.Strings(p.langs)
	for li, l := range p.langs {
		count := map[string]int{}
		total := 0
		for _, t := range texts[l] {
			Grams(t, func(g string) { count[g]++; total++ })
		}
		type gc struct {
			g string
			c int
		}
		all := make([]gc, 0, len(count))
		for g, c := range count {
			all = append(all, gc{g, c})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].c > all[j].c || (all[i].c == all[j].c && all[i].g < all[j].g) })
		all = all[:min(k, len(all))]
		denom := float64(total) + 0.5*float64(len(count))
		logp := func(c int) float32 { return float32(math.Log((float64(c) + 0.5) / denom)) }
		floor := float32(math.Log(0.5 / denom))
		if len(all) > 0 {
			floor = logp(all[len(all)-1].c) - float32(math.Ln2)
		}
		p.floor = append(p.floor, floor)
		for _, x := range all {
			byGram[x.g] = append(byGram[x.g], posting{uint16(li), logp(x.c) - floor})
		}
	}
	p.compact(byGram)
	return p
}

// Scores returns each language's log likelihood of text (in the order of
// Langs) and the number of n-grams it was computed over. With no n-grams
// every score is 0.
func (p *Profile) Scores(text string) ([]float64, int) {
	s := make([]float64, len(p.langs))
	n := 0
	grams(text, func(g []byte) {
		n++
		for _, x := range p.postings(g) {
			s[x.lang] += float64(x.gain)
		}
	})
	return s, p.finish(s, n)
}

func (p *Profile) finish(s []float64, n int) int {
	for i := range s {
		s[i] += float64(n) * float64(p.floor[i])
	}
	return n
}

// Halves are the scores of a text and of its two halves cut at a byte
// offset (see ScoresHalves).
type Halves struct {
	Whole, A, B    []float64
	NWhole, NA, NB int
}

// ScoresHalves returns Scores of text, text[:cut] and text[cut:], the same
// to the bit as three calls, but an n-gram a half shares with the whole
// (all but the few at the cut) is looked up once: the map lookups are most
// of the cost, and langid scores every text with its halves.
func (p *Profile) ScoresHalves(text string, cut int) Halves {
	var h Halves
	rs := normalize(text, nil)
	// found[n-1][i] are the postings of the whole's n-gram at i.
	var found [MaxN][][]posting
	buf := make([]byte, 0, 4*MaxN)
	h.Whole = make([]float64, len(p.langs))
	for n := 1; n <= MaxN; n++ {
		found[n-1] = make([][]posting, max(len(rs)-n+1, 0))
		for i := 0; i+n <= len(rs); i++ {
			g, ok := gramAt(rs, i, n, buf)
			if !ok {
				continue
			}
			h.NWhole++
			ps := p.postings(g)
			found[n-1][i] = ps
			for _, x := range ps {
				h.Whole[x.lang] += float64(x.gain)
			}
		}
	}
	p.finish(h.Whole, h.NWhole)
	// half scores a half whose normalised characters equal the whole's
	// from offset on, for those at or after from (a prefix: the half's
	// start; a suffix: its part past the cut).
	half := func(part string, aligned func(hs []rune) (from, to, offset int)) ([]float64, int) {
		hs := normalize(part, nil)
		from, to, offset := aligned(hs)
		s := make([]float64, len(p.langs))
		n := 0
		for k := 1; k <= MaxN; k++ {
			for i := 0; i+k <= len(hs); i++ {
				g, ok := gramAt(hs, i, k, buf)
				if !ok {
					continue
				}
				n++
				var ps []posting
				if i >= from && i+k <= to {
					ps = found[k-1][i+offset]
				} else {
					ps = p.postings(g)
				}
				for _, x := range ps {
					s[x.lang] += float64(x.gain)
				}
			}
		}
		return s, p.finish(s, n)
	}
	h.A, h.NA = half(text[:cut], func(hs []rune) (int, int, int) {
		k := 0
		for k < len(hs) && k < len(rs) && hs[k] == rs[k] {
			k++
		}
		return 0, k, 0
	})
	h.B, h.NB = half(text[cut:], func(hs []rune) (int, int, int) {
		k := 0
		for k < len(hs) && k < len(rs) && hs[len(hs)-1-k] == rs[len(rs)-1-k] {
			k++
		}
		return len(hs) - k, len(hs), len(rs) - len(hs)
	})
	return h
}

// Write stores the profile as gzipped text: a header, a line per language
// ("lang TAB floor"), a blank line, then a line per n-gram in byte order
// ("gram TAB lang:logp,lang:logp" with the languages by index). The output
// depends only on the profile, so regenerating it gives the same bytes.
func (p *Profile) Write(w io.Writer) error {
	zw := gzip.NewWriter(w)
	bw := bufio.NewWriter(zw)
	fmt.Fprintf(bw, "polyglot-ngram-profile 1\t%d\n", MaxN)
	for i, l := range p.langs {
		fmt.Fprintf(bw, "%s\t%s\n", l, strconv.FormatFloat(float64(p.floor[i]), 'g', 6, 32))
	}
	bw.WriteString("\n")
	grams := make([]string, 0, len(p.index))
	for g := range p.index {
		grams = append(grams, g)
	}
	sort.Strings(grams)
	for _, g := range grams {
		bw.WriteString(g)
		for i, x := range p.postings([]byte(g)) {
			if i == 0 {
				bw.WriteByte('\t')
			} else {
				bw.WriteByte(',')
			}
			bw.WriteString(strconv.Itoa(int(x.lang)))
			bw.WriteByte(':')
			bw.WriteString(strconv.FormatFloat(float64(x.gain+p.floor[x.lang]), 'g', 6, 32))
		}
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// Read loads a profile written by Write.
func Read(r io.Reader) (*Profile, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("ngram profile: %w", err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	line := 0
	bad := func(format string, a ...any) error {
		return fmt.Errorf("ngram profile line %d: %s", line, fmt.Sprintf(format, a...))
	}
	if !sc.Scan() {
		return nil, fmt.Errorf("ngram profile: empty")
	}
	line++
	if want := fmt.Sprintf("polyglot-ngram-profile 1\t%d", MaxN); sc.Text() != want {
		return nil, bad("header %q, want %q", sc.Text(), want)
	}
	p := &Profile{index: map[string]span{}}
	for sc.Scan() {
		line++
		if sc.Text() == "" {
			break
		}
		l, f, ok := strings.Cut(sc.Text(), "\t")
		v, err := strconv.ParseFloat(f, 32)
		if !ok || err != nil || l == "" {
			return nil, bad("want \"lang TAB floor\", got %q", sc.Text())
		}
		p.langs = append(p.langs, l)
		p.floor = append(p.floor, float32(v))
	}
	for sc.Scan() {
		line++
		g, rest, ok := strings.Cut(sc.Text(), "\t")
		if !ok || g == "" {
			return nil, bad("want \"gram TAB postings\", got %q", sc.Text())
		}
		if _, dup := p.index[g]; dup {
			return nil, bad("n-gram %q listed twice", g)
		}
		off := len(p.posts)
		for _, f := range strings.Split(rest, ",") {
			a, b, ok := strings.Cut(f, ":")
			li, err1 := strconv.Atoi(a)
			v, err2 := strconv.ParseFloat(b, 32)
			if !ok || err1 != nil || err2 != nil || li < 0 || li >= len(p.langs) {
				return nil, bad("bad posting %q", f)
			}
			p.posts = append(p.posts, posting{uint16(li), float32(v) - p.floor[li]})
		}
		p.index[g] = span{uint32(off), uint32(len(p.posts) - off)}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ngram profile: %w", err)
	}
	if len(p.langs) == 0 {
		return nil, fmt.Errorf("ngram profile: no languages")
	}
	return p, nil
}
