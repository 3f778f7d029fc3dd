// Package synthtext makes deterministic synthetic multilingual text for the
// metrics' tests and benchmarks: Zipf-distributed vocabularies per language,
// so that tokenisers, n-gram models and hashing see realistic variety.
package synthtext

import (
	"math"
	"math/rand/v2"
	"strings"
	"syscall"
)

// Word lists for synthetic multilingual examples used by tests and
// benchmarks; the study's languages plus English.
var synthWords = map[string][]string{
	"en": strings.Fields("the model writes a short answer about history science and daily life with clear steps because students ask many questions"),
	"de": strings.Fields("der Schüler schreibt eine kurze Antwort über Geschichte Wissenschaft und Alltag mit klaren Schritten weil Lehrer viele Fragen stellen"),
	"es": strings.Fields("el estudiante escribe una respuesta corta sobre historia ciencia y vida cotidiana con pasos claros porque los maestros hacen preguntas"),
	"cs": strings.Fields("student píše krátkou odpověď o historii vědě a každodenním životě s jasnými kroky protože učitelé kladou mnoho otázek"),
	"id": strings.Fields("siswa menulis jawaban singkat tentang sejarah ilmu pengetahuan dan kehidupan sehari-hari dengan langkah jelas karena guru bertanya"),
	"tl": strings.Fields("ang mag-aaral ay sumusulat ng maikling sagot tungkol sa kasaysayan agham at araw-araw na buhay dahil maraming tanong"),
	"ar": strings.Fields("يكتب الطالب إجابة قصيرة عن التاريخ والعلوم والحياة اليومية بخطوات واضحة لأن المعلمين يطرحون أسئلة كثيرة"),
	"ja": {"学生は", "歴史と", "科学と", "日常生活について", "短い答えを", "書きます。", "先生が", "たくさんの", "質問を", "するので", "明確な", "手順で"},
}

// Langs are the languages Examples cycles through.
var Langs = []string{"en", "de", "es", "cs", "id", "tl", "ar", "ja"}

// synthSyllables build pseudo-words, so that each language has a large,
// Zipf-distributed vocabulary like real text (the real words above are the
// most frequent ranks).
var synthSyllables = map[string][]string{
	"en": strings.Fields("ta ble con ver sa tion ing er pro duct ly ment im por tant"),
	"de": strings.Fields("ver ge schaft lich keit ung stän dig be wer tung ein heit zu"),
	"es": strings.Fields("ción mien to ra do que ar es pe ci al men te in"),
	"cs": strings.Fields("ně ko li vat ost ní pro vě dě ní stá le za při"),
	"id": strings.Fields("ber ke an me nga ta ha di pe rang kan si lah"),
	"tl": strings.Fields("pag ka ma na ri ta la ba ngi hin an um gi"),
	"ar": strings.Fields("ال مس تش فى كت اب ون ين ات ية سل ام عل"),
	"ja": strings.Fields("かん こう せい ぶん りょ てき じょう ほう 化 学 経 済 社 会"),
}

var synthZipf = map[*rand.Rand]*rand.Zipf{}

// synthWord returns the word of the given frequency rank in lang.
func synthWord(lang string, rank uint64) string {
	if list := synthWords[lang]; rank < uint64(len(list)) {
		return list[rank]
	}
	syl := synthSyllables[lang]
	x := rank*0x9e3779b97f4a7c15 + 1
	var b strings.Builder
	for range 1 + rank%4 {
		x ^= x >> 29
		x *= 0xbf58476d1ce4e5b9
		b.WriteString(syl[x%uint64(len(syl))])
	}
	return b.String()
}

// Text returns a pseudo-random text of words words in lang.
func Text(r *rand.Rand, lang string, words int) string {
	z, ok := synthZipf[r]
	if !ok {
		z = rand.NewZipf(r, 1.1, 2, 50_000)
		synthZipf[r] = z
	}
	sep := " "
	if lang == "ja" {
		sep = ""
	}
	var b strings.Builder
	for i := range words {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(synthWord(lang, z.Uint64()))
		if r.IntN(12) == 0 {
			b.WriteString(". ")
		}
	}
	return b.String()
}

// Pair is one synthetic (prompt, response) example.
type Pair struct{ ID, Lang, Prompt, Response string }

// Examples returns n pairs with prompts of 20–80 and responses of 60–250
// words, languages cycling through Langs.
func Examples(seed uint64, n int) []Pair {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]Pair, n)
	for i := range out {
		lang := Langs[i%len(Langs)]
		out[i] = Pair{
			ID:       lang + "-" + string(rune('a'+i%26)),
			Lang:     lang,
			Prompt:   Text(r, lang, 20+r.IntN(61)),
			Response: Text(r, lang, 60+r.IntN(191)),
		}
	}
	return out
}

// CPUSeconds is the process's user+system CPU time; benchmarks report its
// delta because wall time on a shared machine depends on other load.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
