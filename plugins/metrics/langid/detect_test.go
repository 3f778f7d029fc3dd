package langid

import (
	"reflect"
	"testing"
)

const (
	textDE = "Die Bundesregierung hat am Mittwoch beschlossen, die Förderung für erneuerbare Energien im kommenden Jahr deutlich zu erhöhen."
	textES = "El gobierno anunció ayer un nuevo plan para mejorar el transporte público en las ciudades más grandes del país."
	textID = "Pemerintah mengumumkan rencana baru untuk memperbaiki transportasi umum di kota-kota besar."
	textCS = "Vláda včera oznámila nový plán na zlepšení veřejné dopravy ve velkých městech."
	textAR = "أعلنت الحكومة أمس عن خطة جديدة لتحسين النقل العام في المدن الكبرى."
	textJA = "政府は昨日、大都市の公共交通機関を改善するための新しい計画を発表しました。"
	textTL = "Inanunsyo ng pamahalaan kahapon ang isang bagong plano para mapabuti ang pampublikong transportasyon sa mga malalaking lungsod."
	textEN = "The government announced a new plan yesterday to improve public transport in the largest cities of the country."
	// Romanised Japanese: Latin script where Japanese expects Jpan.
	textJALatn = "seifu wa kinou, daitoshi no koukyou koutsuu kikan wo kaizen suru tame no atarashii keikaku wo happyou shimashita."
	// Serbian in Latin script; CLDR's default script for sr is Cyrillic.
	textSRLatn = "Vlada Republike Srbije je juče usvojila novi zakon o zaštiti životne sredine i obnovljivim izvorima energije."
)

func TestDetect(t *testing.T) {
	_, m := testModel(t)
	d := NewDetector(m, DefaultCalibration)
	for _, tc := range []struct {
		name         string
		text         string
		lang, script string
		und          bool
		reason       string
	}{
		{"German", textDE, "de", "Latn", false, ""},
		{"Spanish", textES, "es", "Latn", false, ""},
		{"Indonesian", textID, "id", "Latn", false, ""},
		{"Czech", textCS, "cs", "Latn", false, ""},
		{"Arabic", textAR, "ar", "Arab", false, ""},
		{"Japanese", textJA, "ja", "Jpan", false, ""},
		{"Tagalog", textTL, "tl", "Latn", false, ""},
		{"English", textEN, "en", "Latn", false, ""},
		{"too short", "ok", Und, "Latn", true, "short"},
		{"no letters", "12345 !!! ...", Und, "Zyyy", true, "short"},
		{"empty", "", Und, "Zyyy", true, "short"},
		{"German then English halves", textDE + " " + textEN, Und, "Latn", true, "code-switched"},
		{"Spanish then Czech halves", textES + " " + textCS, Und, "Latn", true, "code-switched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := d.Detect(tc.text)
			if r.Lang != tc.lang || r.Script != tc.script || r.Undetermined != tc.und || r.Reason != tc.reason {
				t.Errorf("Detect = lang %q script %q und %v reason %q (guess %s %.3f, halves %v %v), want %q %q %v %q",
					r.Lang, r.Script, r.Undetermined, r.Reason, r.Guess, r.Prob, r.Halves, r.HalfProbs, tc.lang, tc.script, tc.und, tc.reason)
			}
			if !tc.und && (r.Prob < DefaultCalibration.MinProb || r.Prob > 1 || r.Guess != r.Lang) {
				t.Errorf("determined result with prob %v guess %q", r.Prob, r.Guess)
			}
		})
	}

	t.Run("script mismatch is reported", func(t *testing.T) {
		r := d.Detect(textJALatn + " " + textJALatn)
		// Whatever the model guesses for romaji, the script is Latin.
		if r.Script != "Latn" {
			t.Errorf("script %s, want Latn", r.Script)
		}
		r = d.Detect(textJA)
		if r.ScriptMismatch || r.ExpectedScript != "Jpan" {
			t.Errorf("Japanese in kanji/kana: mismatch %v expected %q", r.ScriptMismatch, r.ExpectedScript)
		}
	})

	t.Run("DetectBatch equals Detect", func(t *testing.T) {
		texts := []string{textDE, textJA, "", "ok", textDE + " " + textEN, textAR, textTL}
		batch := d.DetectBatch(texts, 2)
		for i, tx := range texts {
			if one := d.Detect(tx); !reflect.DeepEqual(one, batch[i]) {
				t.Errorf("text %d: batch %+v\nsingle %+v", i, batch[i], one)
			}
		}
	})

	t.Run("calibration off keeps the guess", func(t *testing.T) {
		raw := NewDetector(m, Calibration{})
		if r := raw.Detect(textDE + " " + textEN); r.Undetermined || r.Lang != r.Guess {
			t.Errorf("zero calibration still abstains: %+v", r)
		}
	})
}

func TestDetectScript(t *testing.T) {
	for _, tc := range []struct {
		text   string
		script string
		share  float64
	}{
		{"Hello world", "Latn", 1},
		{"Привет, мир", "Cyrl", 1},
		{"مرحبا بالعالم", "Arab", 1},
		{"こんにちは世界", "Jpan", 1},
		{"カタカナ", "Jpan", 1},
		{"你好世界", "Hani", 1},
		{"안녕하세요 世界", "Kore", 1},
		{"Γειά σου κόσμε", "Grek", 1},
		{"שלום עולם", "Hebr", 1},
		{"नमस्ते दुनिया", "Deva", 1},
		{"สวัสดีชาวโลก", "Thai", 1},
		{"გამარჯობა", "Geor", 1},
		{"abc абвгд", "Cyrl", 5.0 / 8},
		{"123 !?", "Zyyy", 0},
		{"", "Zyyy", 0},
		// Ten scripts, more than the counter's small array holds; Thai leads.
		{"ab бв αβ אב ضص अआ ქა աբ কখ สวัสดีชาวโลก", "Thai", 10.0 / 28}, // 18 + 10 letters (Thai vowel signs are marks)
	} {
		st := DetectScript(tc.text)
		if st.Script != tc.script || st.Share != tc.share {
			t.Errorf("DetectScript(%q) = %s %.3f, want %s %.3f", tc.text, st.Script, st.Share, tc.script, tc.share)
		}
	}
}

func TestExpectedScriptAndMatch(t *testing.T) {
	for _, tc := range []struct{ tag, want string }{
		{"de", "Latn"}, {"ar", "Arab"}, {"ja", "Jpan"}, {"ko", "Kore"}, {"zh", "Hans"},
		{"zh-TW", "Hant"}, {"sr", "Cyrl"}, {"sr-Latn", "Latn"}, {"ru", "Cyrl"}, {"tl", "Latn"},
		{"not a tag!", ""},
	} {
		if got := ExpectedScript(tc.tag); got != tc.want {
			t.Errorf("ExpectedScript(%q) = %q, want %q", tc.tag, got, tc.want)
		}
	}
	for _, tc := range []struct {
		detected, expected string
		ok                 bool
	}{
		{"Latn", "Latn", true}, {"Latn", "Cyrl", false}, {"Hani", "Hans", true}, {"Hani", "Jpan", true},
		{"Kana", "Jpan", true}, {"Hang", "Kore", true}, {"Latn", "Jpan", false}, {"Zyyy", "Arab", true},
		{"Arab", "", true}, {"Jpan", "Hans", false},
	} {
		if got := ScriptMatches(tc.detected, tc.expected); got != tc.ok {
			t.Errorf("ScriptMatches(%s, %s) = %v", tc.detected, tc.expected, got)
		}
	}
}

func TestSameLanguage(t *testing.T) {
	for _, tc := range []struct {
		detected, target string
		same             bool
	}{
		{"de", "de-AT", true}, {"tl", "fil", true}, {"no", "nb", true}, {"he", "iw", true},
		{"zh", "zh-Hant", true}, {"sr", "sr-Latn", true}, {"en", "de", false}, {Und, "und", false},
		{"ms", "id", false},
	} {
		if got := SameLanguage(tc.detected, tc.target); got != tc.same {
			t.Errorf("SameLanguage(%q, %q) = %v", tc.detected, tc.target, got)
		}
	}
}
