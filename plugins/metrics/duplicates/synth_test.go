package duplicates

import (
	"math/rand/v2"
	"strings"
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

var synthLangs = []string{"en", "de", "es", "cs", "id", "tl", "ar", "ja"}

// synthText returns a pseudo-random text of words words in lang.
func synthText(r *rand.Rand, lang string, words int) string {
	list := synthWords[lang]
	sep := " "
	if lang == "ja" {
		sep = ""
	}
	var b strings.Builder
	for i := range words {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(list[r.IntN(len(list))])
		if r.IntN(12) == 0 {
			b.WriteString(". ")
		}
	}
	return b.String()
}

// synthExamples returns n examples with prompts of 20–80 and responses of
// 60–250 words, languages cycling through synthLangs.
func synthExamples(seed uint64, n int) []Example {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]Example, n)
	for i := range out {
		lang := synthLangs[i%len(synthLangs)]
		out[i] = Example{
			ID:       lang + "-" + string(rune('a'+i%26)),
			Prompt:   synthText(r, lang, 20+r.IntN(61)),
			Response: synthText(r, lang, 60+r.IntN(191)),
		}
	}
	return out
}
