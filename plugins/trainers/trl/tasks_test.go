package trl

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// studyLanguages are the languages each study benchmark exists for.
var studyLanguages = map[string][]string{
	"global_mmlu_lite": {"ar", "de", "es", "id", "ja"},
	"m_rewardbench":    {"ar", "cs", "de", "es", "id", "ja"},
	"mgsm":             {"de", "es", "ja"},
}

// TestShippedTasks loads the shipped task files in Python, with stand-ins
// for lighteval's classes, and checks them against the names Resolve
// gives the harnesses and against the study's protocol.
func TestShippedTasks(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("POLYGLOT_REQUIRE_TOOLS") != "" {
			t.Fatal("python3 is needed to load the shipped task files")
		}
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	for name, data := range ShippedTasks(Lighteval) {
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	lm := ShippedTasks(LMEval)
	for name, data := range lm {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, data, 0o644)
	}
	out, err := exec.Command("python3", "testdata/check_tasks.py", filepath.Join(dir, LightevalTasksFile),
		filepath.Join(dir, LMEvalTasksDir, "polyglot_m_rewardbench", "utils.py")).Output()
	if err != nil {
		t.Fatalf("check_tasks.py: %v", err)
	}
	var got struct {
		Tasks map[string]struct {
			Metrics        []string
			GenerationSize *int `json:"generation_size"`
			Stop           []string
		}
		ChosenFirst     int     `json:"chosen_first"`
		GoldIsChosen    bool    `json:"gold_letter_is_chosen"`
		AlwaysAWeighted float64 `json:"always_a_weighted_acc"`
		WeightedTwo     float64 `json:"weighted_acc_two_categories"`
		MGSM            map[string]int
		MMLU            struct {
			Choices []string
			Gold    int
		}
		LMChosenFirst     int     `json:"lm_eval_chosen_first"`
		LMSameOrder       bool    `json:"lm_eval_same_order"`
		LMAlwaysAWeighted float64 `json:"lm_eval_always_a_weighted_acc"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for bench, langs := range studyLanguages {
		for _, lang := range langs {
			for _, harness := range []string{Lighteval, LMEval} {
				r, err := Resolve(harness, lang, []sdk.Benchmark{{Name: bench}})
				if err != nil {
					t.Fatal(err)
				}
				task, metric := r[0].Task, r[0].Metric
				if harness == LMEval {
					if bench == "m_rewardbench" && lm[LMEvalTasksDir+"/polyglot_m_rewardbench/"+task+".yaml"] == nil {
						t.Errorf("lm-eval: no shipped YAML for %s", task)
					}
					continue
				}
				name, _, _ := strings.Cut(task, "|")
				def, ok := got.Tasks[name]
				if !ok {
					t.Errorf("lighteval: %s (%s, %s) is not in the shipped TASKS_TABLE", name, bench, lang)
					continue
				}
				if len(def.Metrics) != 1 || def.Metrics[0] != metric {
					t.Errorf("lighteval: %s reports %v, Resolve reads %q", name, def.Metrics, metric)
				}
			}
		}
	}
	// MGSM: number only, newline stop, 50 new tokens, first number matched.
	if d := got.Tasks["mgsm_num_de"]; d.GenerationSize == nil || *d.GenerationSize != 50 || len(d.Stop) != 1 || d.Stop[0] != "\n" {
		t.Errorf("mgsm_num_de generates %v tokens, stops at %q; want 50 and a newline", d.GenerationSize, d.Stop)
	}
	wantMGSM := map[string]int{"4": 1, " 4 apples": 1, "4.0": 1, "1,004": 0, "Es sind 4.": 1, "3 or 4": 0, "": 0}
	for answer, want := range wantMGSM {
		if got.MGSM[answer] != want {
			t.Errorf("MGSM answer %q to gold 4 scores %d, want %d", answer, got.MGSM[answer], want)
		}
	}
	if got.MMLU.Gold != 2 || strings.Join(got.MMLU.Choices, "") != " A B C D" {
		t.Errorf("Global-MMLU-Lite: choices %q gold %d, want letters and gold C", got.MMLU.Choices, got.MMLU.Gold)
	}
	// M-RewardBench: the chosen answer is A about half the time (400 items),
	// the gold letter follows it, and a model that always says A scores
	// about 0.5; the weighting is per category.
	if got.ChosenFirst < 160 || got.ChosenFirst > 240 || !got.GoldIsChosen {
		t.Errorf("chosen answer first in %d of 400 items (gold follows it: %v)", got.ChosenFirst, got.GoldIsChosen)
	}
	if got.AlwaysAWeighted < 0.4 || got.AlwaysAWeighted > 0.6 || got.WeightedTwo != 0.5 {
		t.Errorf("weighted_acc: always-A %g, categories (1, 0) %g; want about 0.5 and 0.5", got.AlwaysAWeighted, got.WeightedTwo)
	}
	if !got.LMSameOrder || got.LMChosenFirst != got.ChosenFirst || got.LMAlwaysAWeighted != got.AlwaysAWeighted {
		t.Errorf("lm-eval's M-RewardBench differs from lighteval's: same order %v, %d vs %d chosen first, %g vs %g", got.LMSameOrder, got.LMChosenFirst, got.ChosenFirst, got.LMAlwaysAWeighted, got.AlwaysAWeighted)
	}
}
