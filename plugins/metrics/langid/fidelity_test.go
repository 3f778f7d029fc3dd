package langid

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFidelityAggregator(t *testing.T) {
	_, m := testModel(t)
	d := NewDetector(m, DefaultCalibration)
	exs := []Example{
		{ID: "de-ok", Target: "de", Prompt: textDE, Response: textDE},
		{ID: "de-drift", Target: "de", Prompt: textDE, Response: textEN},         // response drifted to English
		{ID: "de-und", Target: "de", Prompt: "ok", Response: textDE},             // prompt too short
		{ID: "ja-ok", Target: "ja", Prompt: textJA, Response: textJA},            //
		{ID: "ja-romaji", Target: "ja", Prompt: textJA, Response: textJALatn},    // Latin-script Japanese
		{ID: "sr-latn", Target: "sr-Latn", Prompt: textSRLatn, Response: textES}, // script fits sr-Latn; response Spanish
	}
	agg := d.NewAggregator()
	// Half through Add, half through AddBatch: both paths must agree.
	for _, ex := range exs[:3] {
		agg.Add(ex)
	}
	agg.AddBatch(exs[3:])

	per := agg.Examples()
	if len(per) != len(exs) {
		t.Fatalf("%d per-example results, want %d", len(per), len(exs))
	}
	byID := map[string]ExampleFidelity{}
	for _, e := range per {
		byID[e.ID] = e
	}
	check := func(id string, promptOn, respOn, promptMis, respMis bool) {
		t.Helper()
		e := byID[id]
		if e.Prompt.OnTarget != promptOn || e.Response.OnTarget != respOn || e.Prompt.ScriptMismatch != promptMis || e.Response.ScriptMismatch != respMis {
			t.Errorf("%s: prompt on=%v mis=%v (%s %s), response on=%v mis=%v (%s %s); want %v %v / %v %v",
				id, e.Prompt.OnTarget, e.Prompt.ScriptMismatch, e.Prompt.Lang, e.Prompt.Script,
				e.Response.OnTarget, e.Response.ScriptMismatch, e.Response.Lang, e.Response.Script,
				promptOn, promptMis, respOn, respMis)
		}
	}
	check("de-ok", true, true, false, false)
	check("de-drift", true, false, false, false)
	check("de-und", false, true, false, false)
	check("ja-ok", true, true, false, false)
	check("ja-romaji", true, false, false, true)
	// lid.176 cannot separate Latin-script Serbian from Croatian (hr 0.32, sr 0.30):
	// the prompt is "und", not a false drift, and its script fits sr-Latn.
	check("sr-latn", false, false, false, false)
	if p := byID["sr-latn"].Prompt; !p.Undetermined {
		t.Errorf("Latin Serbian prompt: %s %.2f, want und", p.Lang, p.Prob)
	}
	if byID["de-und"].Prompt.Reason != "short" {
		t.Errorf("short prompt reason %q", byID["de-und"].Prompt.Reason)
	}

	sum := agg.Summary()
	if len(sum) != 3 {
		t.Fatalf("summary has %d targets, want de, ja, sr: %+v", len(sum), sum)
	}
	de := sum[0]
	wantDE := Fidelity{
		Target: "de", N: 3,
		PromptRate: 2.0 / 3, ResponseRate: 2.0 / 3, BothRate: 1.0 / 3,
		PromptUndetermined: 1.0 / 3, ResponseUndetermined: 0,
		WrongLanguages: map[string]int{"en": 1},
	}
	if diff := cmp.Diff(wantDE, de); diff != "" {
		t.Errorf("de summary (-want +got):\n%s", diff)
	}
	ja := sum[1]
	if ja.Target != "ja" || ja.N != 2 || ja.PromptRate != 1 || ja.ResponseScriptMismatch != 0.5 || ja.ScriptMismatchRate != 0.25 || ja.PromptScriptMismatch != 0 {
		t.Errorf("ja summary %+v", ja)
	}
	sr := sum[2]
	if sr.Target != "sr" || sr.WrongLanguages["es"] != 1 || sr.ScriptMismatchRate != 0 {
		t.Errorf("sr summary %+v", sr)
	}
}
