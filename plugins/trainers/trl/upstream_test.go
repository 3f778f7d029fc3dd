package trl

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The rendered scripts call libraries this repository cannot run (no GPU,
// no Python packages). What they pass is checked instead against the
// argument lists of the pinned releases, extracted from those releases'
// sources into testdata/upstream (regen.sh there rebuilds them).

// upstreamList reads one list: names a call accepts, and those it must not
// be given ("NAME deprecated: why"). prefix selects "prefix:NAME" lines.
func upstreamList(t *testing.T, file, prefix string) (ok map[string]bool, banned map[string]string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "upstream", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ok, banned = map[string]bool{}, map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if prefix != "" {
			rest, found := strings.CutPrefix(line, prefix+":")
			if !found {
				continue
			}
			line = rest
		} else if strings.Contains(strings.Fields(line)[0], ":") {
			continue
		}
		name, why, deprecated := strings.Cut(line, " deprecated:")
		if deprecated {
			banned[name] = strings.TrimSpace(why)
		} else {
			ok[name] = true
		}
	}
	if len(ok) == 0 {
		t.Fatalf("%s has no %q names", file, prefix)
	}
	return ok, banned
}

var kwarg = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=[^=]`)

// callKwargs returns the keyword arguments of every call to fn in src (a
// Python script): the names followed by "=" at the call's own nesting
// level. It returns nil when fn is not called.
func callKwargs(src, fn string) [][]string {
	var calls [][]string
	for i := 0; ; {
		j := strings.Index(src[i:], fn+"(")
		if j < 0 {
			return calls
		}
		start := i + j + len(fn) + 1
		depth, names, inStr := 1, []string{}, byte(0)
		k := start
		atArg := true
		for ; k < len(src) && depth > 0; k++ {
			c := src[k]
			if inStr != 0 {
				if c == '\\' {
					k++
				} else if c == inStr {
					inStr = 0
				}
				continue
			}
			switch c {
			case '#':
				for k < len(src) && src[k] != '\n' {
					k++
				}
				continue
			case '"', '\'':
				inStr = c
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				depth--
			case ',':
				if depth == 1 {
					atArg = true
				}
				continue
			case ' ', '\n', '\t':
				continue
			}
			if depth == 1 && atArg {
				if m := kwarg.FindStringSubmatch(src[k:]); m != nil {
					names = append(names, m[1])
				}
				atArg = false
			}
		}
		calls = append(calls, names)
		i = k
	}
}

type upstreamCheck struct {
	call  string   // as written in the script
	lists []string // files; "file@prefix" reads prefixed lines
}

func checkCalls(t *testing.T, script string, checks []upstreamCheck) {
	t.Helper()
	for _, c := range checks {
		ok, banned := map[string]bool{}, map[string]string{}
		for _, l := range c.lists {
			file, prefix, _ := strings.Cut(l, "@")
			o, b := upstreamList(t, file, prefix)
			for k := range o {
				ok[k] = true
			}
			for k, v := range b {
				banned[k] = v
			}
		}
		calls := callKwargs(script, c.call)
		if len(calls) == 0 {
			t.Errorf("the script never calls %s", c.call)
		}
		for _, names := range calls {
			for _, n := range names {
				switch {
				case banned[n] != "":
					t.Errorf("%s(%s=...): %s", c.call, n, banned[n])
				case !ok[n]:
					t.Errorf("%s(%s=...): no such argument in %s", c.call, n, strings.Join(c.lists, ", "))
				}
			}
		}
	}
}

func TestTrainScriptArgumentsExistUpstream(t *testing.T) {
	trainingArgs := "transformers-TrainingArguments.txt"
	cases := []struct {
		name   string
		hyper  func(*Hyper)
		checks []upstreamCheck
	}{
		{"study: qlora through unsloth", func(h *Hyper) { h.Unsloth = true; h.ChatTemplate = "llama-3.1" }, []upstreamCheck{
			{"SFTConfig", []string{trainingArgs, "trl-v0.24.0-SFTConfig.txt"}},
			{"SFTTrainer", []string{"trl-v0.24.0-SFTTrainer.txt"}},
			{"FastLanguageModel.from_pretrained", []string{"unsloth-2026.8.19-from_pretrained.txt"}},
			{"FastLanguageModel.get_peft_model", []string{"unsloth-2026.8.19-get_peft_model.txt"}},
			{"AutoModelForCausalLM.from_pretrained", []string{"transformers-loading.txt@from_pretrained"}},
		}},
		{"qlora with transformers and peft", func(h *Hyper) {}, []upstreamCheck{
			{"SFTConfig", []string{trainingArgs, "trl-v1.9.0-SFTConfig.txt"}},
			{"SFTTrainer", []string{"trl-v1.9.0-SFTTrainer.txt"}},
			{"BitsAndBytesConfig", []string{"transformers-loading.txt@BitsAndBytesConfig"}},
			{"AutoModelForCausalLM.from_pretrained", []string{"transformers-loading.txt@from_pretrained"}},
			{"LoraConfig", []string{"peft-v0.20.0-LoraConfig.txt"}},
		}},
		{"full finetuning, warm-up as a ratio", func(h *Hyper) { h.Method = Full; h.WarmupSteps = 0; h.WarmupRatio = 0.03 }, []upstreamCheck{
			{"SFTConfig", []string{trainingArgs, "trl-v1.9.0-SFTConfig.txt"}},
			{"AutoModelForCausalLM.from_pretrained", []string{"transformers-loading.txt@from_pretrained"}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := DefaultHyper()
			c.hyper(&h)
			job, err := RenderTrain(TrainSpec{BaseModel: "allenai/Olmo-3-1025-7B", Dataset: "/d.jsonl", OutputDir: "/out", Hyper: h, MergeAdapter: true, GPUs: 2})
			if err != nil {
				t.Fatal(err)
			}
			checkCalls(t, string(job.Files[TrainScript]), c.checks)
		})
	}
}

// callKwargs must find what a reader sees; a check that finds nothing
// would pass anything.
func TestCallKwargs(t *testing.T) {
	src := `x = SFTConfig(
    output_dir=cfg["output_dir"],
    warmup_ratio=h["warmup_ratio"],  # comment, with = sign
    nested=dict(a=1, b=(2, 3)),
    s="a, b=c",
)
m = AutoModelForCausalLM.from_pretrained(cfg["base_model"], torch_dtype=torch.bfloat16, device_map={"": 0})
`
	got := callKwargs(src, "SFTConfig")
	if len(got) != 1 || strings.Join(got[0], " ") != "output_dir warmup_ratio nested s" {
		t.Errorf("SFTConfig kwargs: %v", got)
	}
	got = callKwargs(src, "AutoModelForCausalLM.from_pretrained")
	if len(got) != 1 || strings.Join(got[0], " ") != "torch_dtype device_map" {
		t.Errorf("from_pretrained kwargs: %v", got)
	}
	// The lists reject what transformers 5 removed.
	_, banned := upstreamList(t, "transformers-TrainingArguments.txt", "")
	if banned["warmup_ratio"] == "" {
		t.Error("warmup_ratio is not marked as removed")
	}
	_, banned = upstreamList(t, "transformers-loading.txt", "from_pretrained")
	if banned["torch_dtype"] == "" {
		t.Error("torch_dtype is not marked as deprecated")
	}
}

// lighteval's and lm-eval's command lines: every flag and model_args key
// the rendered evaluation script passes exists in the pinned release.
func TestEvalScriptArgumentsExistUpstream(t *testing.T) {
	for _, c := range []struct {
		harness, list, cmd string
	}{
		{Lighteval, "lighteval-v0.13.0-vllm.txt", "lighteval vllm"},
		{LMEval, "lm_eval-v0.4.12-cli.txt", "lm_eval run"},
	} {
		t.Run(c.harness, func(t *testing.T) {
			plan, err := Resolve(c.harness, "de", StudyBenchmarks)
			if err != nil {
				t.Fatal(err)
			}
			job, err := RenderEval(EvalSpec{Harness: c.harness, Model: "/m", Language: "de", Plan: plan, OutputDir: "/out", Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			flags, _ := upstreamList(t, c.list, "")
			keys, _ := upstreamList(t, c.list, "model_args")
			script := string(job.Files[EvalScript])
			runs := strings.Split(script, c.cmd+" ")[1:]
			if len(runs) == 0 {
				t.Fatalf("the script never runs %q:\n%s", c.cmd, script)
			}
			for _, run := range runs {
				run, _, _ = strings.Cut(run, "\n\n")
				words := strings.Fields(strings.ReplaceAll(run, "\\\n", " "))
				for i, w := range words {
					if strings.HasPrefix(w, "--") && !flags[w] {
						t.Errorf("%s %s: no such option in %s", c.cmd, w, c.list)
					}
					// lighteval takes model args as its first argument, lm-eval after --model_args.
					if (c.harness == Lighteval && i == 0) || (i > 0 && words[i-1] == "--model_args") {
						for _, kv := range strings.Split(strings.Trim(w, "'"), ",") {
							if k, _, _ := strings.Cut(kv, "="); !keys[k] {
								t.Errorf("%s model args: no key %q in %s", c.cmd, k, c.list)
							}
						}
					}
				}
			}
			// The study's own tasks travel with the job.
			want := LightevalTasksFile
			if c.harness == LMEval {
				want = LMEvalTasksDir + "/polyglot_m_rewardbench/m_rewardbench_de.yaml"
			}
			if len(job.Files[want]) == 0 {
				t.Errorf("the job does not carry %s", want)
			}
		})
	}
}
