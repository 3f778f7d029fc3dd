package langid

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// quickstartSeeds reads the human prompt/response pairs of a quickstart
// language; Strategy holds each pair's task family.
func quickstartSeeds(t testing.TB, lang string) []sdk.Example {
	t.Helper()
	path := filepath.Join("..", "..", "..", "examples", "quickstart", "data", "seeds", lang+".jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sdk.Example
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var row struct {
			ID, Prompt, Response string
			Family               string `json:"task_family"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		out = append(out, sdk.Example{ID: row.ID, Prompt: row.Prompt, Response: row.Response, Language: lang, Strategy: row.Family})
	}
	if err := sc.Err(); err != nil || len(out) == 0 {
		t.Fatalf("%s: %d rows, %v", path, len(out), err)
	}
	return out
}

// cleanHuman is monolingual human text of a quickstart language: the seed
// pairs except the translation family (whose prompts quote English and
// whose answers are partly English by design), and consecutive lines of the
// reference and held-out prose paired as prompt and response.
func cleanHuman(t testing.TB, lang string) []sdk.Example {
	var out []sdk.Example
	for _, e := range quickstartSeeds(t, lang) {
		if e.Strategy != "translation" {
			out = append(out, e)
		}
	}
	for _, kind := range []string{"reference", "heldout"} {
		path := filepath.Join("..", "..", "..", "examples", "quickstart", "data", kind, lang+".txt")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			out = append(out, sdk.Example{ID: fmt.Sprintf("%s-%s-%d", lang, kind, i+1), Prompt: lines[i], Response: lines[i+1], Language: lang})
		}
	}
	return out
}

// wrongLanguage is the quickstart's wrong-language control, built evenly:
// example i keeps its prompt and takes the response of example i in the
// (1 + i mod 7)-th other language, so every other language stands in
// equally often (the dataset plugin draws them at random).
func wrongLanguage(t testing.TB, lang string, human []sdk.Example, set func(testing.TB, string) []sdk.Example) []sdk.Example {
	var others []string
	for _, l := range quickstartLangs {
		if l != lang {
			others = append(others, l)
		}
	}
	seeds := map[string][]sdk.Example{}
	out := make([]sdk.Example, len(human))
	for i, e := range human {
		o := others[i%len(others)]
		if seeds[o] == nil {
			seeds[o] = set(t, o)
		}
		e.Response = seeds[o][i%len(seeds[o])].Response
		out[i] = e
	}
	return out
}

// fidelity runs examples through a langid cell over the plugin protocol and
// returns the aggregate values.
func fidelity(t *testing.T, c *sdk.Client, lang string, exs []sdk.Example) map[string]float64 {
	t.Helper()
	ms, d := openLangid(t, c, map[string]cty.Value{}, lang)
	if d.HasErrors() {
		t.Fatal(d.Err())
	}
	if _, err := ms.Add(exs); err != nil {
		t.Fatal(err)
	}
	_, agg, err := ms.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return agg.Values
}

// baselineValue is the metric value as measured before the n-gram profile and
// the calibration on prose: fastText alone, thresholds tuned on UI strings.
func baselineValue(det *Detector, lang string, exs []sdk.Example) float64 {
	agg := det.NewAggregator()
	for _, e := range exs {
		agg.Add(Example{ID: e.ID, Target: lang, Prompt: e.Prompt, Response: e.Response})
	}
	return agg.Summary()[0].BothRate
}

// minHumanFidelity is the target, 0.95, except where this model does not
// reach it yet: Swahili (lid.176.ftz names 20% of held-out Swahili prose
// right; with the n-gram profile short conversational lines still go to
// Esperanto or Croatian) and Tagalog (read as Cebuano or Waray, its close
// relatives). Those floors catch regressions; raising them needs a better
// model than the 917 KiB one built in (docs/langid.md says what was tried,
// lingua-go among it, and why it was not adopted).
func minHumanFidelity(lang string) float64 {
	switch lang {
	case "sw":
		return 0.85
	case "tl":
		return 0.88
	}
	return 0.95
}

// TestHumanFidelity is the language-fidelity benchmark on the quickstart's
// human data: in every quickstart language, the built-in model (fastText
// plus the n-gram profile, calibrated on held-out UDHR prose) must find
// >= 95% of the clean human examples (cleanHuman) fully on target
// (minHumanFidelity: not yet for sw and tl) and <= 5% of their
// wrong-language control's. All the seeds, as the quickstart
// measures them, are reported too, and the same run measures the old
// detector (fastText alone with the thresholds tuned on UI strings) as the
// baseline. Run with -v for the table (docs/langid.md quotes it):
//
//	go test ./plugins/metrics/langid -run TestHumanFidelity -v
func TestHumanFidelity(t *testing.T) {
	_, m := testModel(t)
	old := NewDetector(m, Calibration{MinLetters: 4, MinProb: 0.52, MinMargin: 0.1, MinHalfProb: 0.7})
	prof, err := DefaultProfile()
	if err != nil {
		t.Fatal(err)
	}
	cur := NewDetector(m, DefaultCalibration).WithProfile(prof)
	c := startLangid(t)
	var b strings.Builder
	fmt.Fprintf(&b, "\n| lang | n | clean human | control | und | baseline human | baseline control | all seeds | control |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, lang := range quickstartLangs {
		human := cleanHuman(t, lang)
		control := wrongLanguage(t, lang, human, cleanHuman)
		seeds := quickstartSeeds(t, lang)
		seedControl := wrongLanguage(t, lang, seeds, quickstartSeeds)
		h, w := fidelity(t, c, lang, human), fidelity(t, c, lang, control)
		hs, ws := fidelity(t, c, lang, seeds), fidelity(t, c, lang, seedControl)
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.3f | %.2f | %.2f | %.2f | %.2f |\n", lang, len(human), h["value"], w["value"], h["und_rate"],
			baselineValue(old, lang, human), baselineValue(old, lang, control), hs["value"], ws["value"])
		if want := minHumanFidelity(lang); h["value"] < want {
			t.Errorf("%s: clean human data %.2f on target, want >= %.2f", lang, h["value"], want)
		}
		if w["value"] > 0.05 || ws["value"] > 0.05 {
			t.Errorf("%s: wrong-language control %.2f (seeds %.2f) on target, want <= 0.05", lang, w["value"], ws["value"])
		}
	}
	t.Log(b.String())
	logOffTarget(t, cur)
}

// logOffTarget lists, for each language under 0.95, the clean human texts
// that are not identified as it, with the detector's guess and why: the
// evidence for docs/langid.md's account of the remaining errors.
func logOffTarget(t *testing.T, det *Detector) {
	for _, lang := range quickstartLangs {
		if minHumanFidelity(lang) >= 0.95 {
			continue
		}
		var b strings.Builder
		for _, e := range cleanHuman(t, lang) {
			for _, s := range []string{e.Prompt, e.Response} {
				if r := det.Detect(s); r.Lang != lang {
					fmt.Fprintf(&b, "\n  %s %s p=%.2f (runner-up %s) %s letters=%d halves=%v: %.70q", e.ID, r.Guess, r.Prob, r.Second, r.Reason, r.Letters, r.Halves, s)
				}
			}
		}
		t.Logf("%s: clean texts not identified as %s:%s", lang, lang, b.String())
	}
}

// BenchmarkDetectQuickstart measures detection over the quickstart's seed
// texts (all languages) with fastText alone and with the n-gram profile, in
// the same run, so their ratio is the profile's cost:
//
//	go test ./plugins/metrics/langid -run '^$' -bench DetectQuickstart
func BenchmarkDetectQuickstart(b *testing.B) {
	_, m := testModel(b)
	prof, err := DefaultProfile()
	if err != nil {
		b.Fatal(err)
	}
	var texts []string
	for _, l := range quickstartLangs {
		for _, e := range quickstartSeeds(b, l) {
			texts = append(texts, e.Prompt, e.Response)
		}
	}
	for _, d := range []struct {
		name string
		det  *Detector
	}{{"fasttext", NewDetector(m, DefaultCalibration)}, {"fasttext+ngram", NewDetector(m, DefaultCalibration).WithProfile(prof)}} {
		b.Run(d.name, func(b *testing.B) {
			for b.Loop() {
				d.det.DetectBatch(texts, 1)
			}
			b.ReportMetric(float64(len(texts)*b.N)/b.Elapsed().Seconds(), "texts/s")
		})
	}
}
