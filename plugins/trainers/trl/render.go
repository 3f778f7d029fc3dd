package trl

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"path"
	"sort"
	"strings"
	"text/template"

	"golang.org/x/text/language"

	"github.com/polyglot-teachers/polyglot/sdk"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// shq quotes s for a POSIX shell.
func shq(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=,:@+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"shq":  shq,
	"join": strings.Join,
}).ParseFS(templateFS, "templates/*.tmpl"))

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("trl: rendering %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// ---------------------------------------------------------------- dataset

// Example is one (prompt, response) pair.
type Example struct {
	Prompt, Response string
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// WriteChatDataset writes examples as TRL's conversational format, one
// {"messages":[{"role":"user",…},{"role":"assistant",…}]} object per line,
// with an optional system message first. It returns the number written.
func WriteChatDataset(w io.Writer, system string, examples iter.Seq2[Example, error]) (int, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n := 0
	for ex, err := range examples {
		if err != nil {
			return n, err
		}
		if strings.TrimSpace(ex.Prompt) == "" || strings.TrimSpace(ex.Response) == "" {
			return n, fmt.Errorf("trl: example %d has an empty prompt or response; drop it before training", n+1)
		}
		msgs := make([]chatMessage, 0, 3)
		if system != "" {
			msgs = append(msgs, chatMessage{"system", system})
		}
		msgs = append(msgs, chatMessage{"user", ex.Prompt}, chatMessage{"assistant", ex.Response})
		if err := enc.Encode(struct {
			Messages []chatMessage `json:"messages"`
		}{msgs}); err != nil {
			return n, fmt.Errorf("trl: writing dataset: %w", err)
		}
		n++
	}
	return n, nil
}

// ---------------------------------------------------------------- training

// TrainSpec describes one training job. Paths are as seen on the node that
// runs the job.
type TrainSpec struct {
	BaseModel string // hub id or local path
	Dataset   string // chat-format JSONL (WriteChatDataset)
	OutputDir string
	Hyper     Hyper
	GPUs      int // 0 means 1
	// MergeAdapter merges LoRA adapters into a bf16 copy of the base after
	// training (the evaluable artifact is then OutputDir/merged).
	MergeAdapter bool
	// TargetModules are the LoRA target modules; empty means "all-linear".
	TargetModules []string
	TimeLimit     string
}

// trainConfig is the JSON the script reads.
type trainConfig struct {
	BaseModel     string `json:"base_model"`
	Dataset       string `json:"dataset"`
	OutputDir     string `json:"output_dir"`
	MergeAdapter  bool   `json:"merge_adapter"`
	TargetModules any    `json:"lora_target_modules"`
	ChatTemplate  string `json:"chat_template"`
	Hyper         Hyper  `json:"hyper"`
}

// Script and config file names inside a job's work directory.
const (
	TrainScript = "train.py"
	TrainConfig = "train_config.json"
	EvalScript  = "eval.sh"
	// TrainSummary is what the training script writes into OutputDir.
	TrainSummary = "polyglot_train.json"
)

// RenderTrain renders the training script and config as a job.
func RenderTrain(s TrainSpec) (*sdk.Job, error) {
	if s.BaseModel == "" || s.Dataset == "" || s.OutputDir == "" {
		return nil, fmt.Errorf("trl: a training job needs a base model, a dataset and an output directory (got %q, %q, %q)", s.BaseModel, s.Dataset, s.OutputDir)
	}
	if err := s.Hyper.Validate(); err != nil {
		return nil, err
	}
	gpus := max(s.GPUs, 1)
	var targets any = "all-linear"
	if len(s.TargetModules) > 0 {
		targets = s.TargetModules
	}
	cfg, err := json.MarshalIndent(trainConfig{
		BaseModel: s.BaseModel, Dataset: s.Dataset, OutputDir: s.OutputDir,
		MergeAdapter: s.MergeAdapter && s.Hyper.Method != Full, TargetModules: targets,
		ChatTemplate: s.Hyper.ChatTemplate, Hyper: s.Hyper,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	script, err := render("train.py.tmpl", s)
	if err != nil {
		return nil, err
	}
	argv := []string{"python", TrainScript, TrainConfig}
	if gpus > 1 {
		argv = []string{"accelerate", "launch", "--num_processes", fmt.Sprint(gpus), TrainScript, TrainConfig}
	}
	return &sdk.Job{
		Name:      "trl-train",
		Argv:      argv,
		Files:     map[string][]byte{TrainScript: script, TrainConfig: append(cfg, '\n')},
		Env:       map[string]string{"TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TELEMETRY": "1"},
		GPUs:      gpus,
		TimeLimit: s.TimeLimit,
	}, nil
}

// ---------------------------------------------------------------- evaluation

// Harness names.
const (
	Lighteval = "lighteval"
	LMEval    = "lm-eval"
)

// Resolved is a benchmark bound to a harness task for one language.
type Resolved struct {
	Name   string // the experiment's benchmark name
	Task   string // the harness's task name (lighteval: suite|task|shots)
	Shots  int
	Metric string // the metric key to read; empty picks the task's main one
}

// study is the study's benchmark suite. Task names may use {lang} (ISO
// 639-1, "de") and {lang3} (ISO 639-3, "deu"). lm-eval's global_mmlu_{lang}
// is the Lite set; MGSM is 5-shot direct answers. M-RewardBench in
// multiple-choice form and lighteval's Global-MMLU-Lite are the study's own
// tasks: the user supplies them with custom_tasks (lighteval) or
// include_path (lm-eval).
var study = map[string]map[string]Resolved{
	LMEval: {
		"global_mmlu_lite": {Task: "global_mmlu_{lang}", Shots: 0, Metric: "acc,none"},
		"mgsm":             {Task: "mgsm_direct_{lang}", Shots: 5, Metric: "exact_match,remove_whitespace"},
		"m_rewardbench":    {Task: "m_rewardbench_mc_{lang}", Shots: 0, Metric: "acc,none"},
	},
	Lighteval: {
		"global_mmlu_lite": {Task: "community|global_mmlu_lite_{lang}|0", Shots: 0, Metric: "acc"},
		"mgsm":             {Task: "lighteval|mgsm_{lang3}|5", Shots: 5, Metric: "exact_match_{lang3}_full"},
		"m_rewardbench":    {Task: "community|m_rewardbench_mc_{lang}|0", Shots: 0, Metric: "acc"},
	},
}

// StudyBenchmarks are the study's three benchmarks, by name.
var StudyBenchmarks = []sdk.Benchmark{{Name: "global_mmlu_lite"}, {Name: "m_rewardbench"}, {Name: "mgsm"}}

// Resolve binds benchmarks to harness tasks for lang. A benchmark with a
// Task uses it (placeholders expanded); one without must be a study
// benchmark.
func Resolve(harness, lang string, bs []sdk.Benchmark) ([]Resolved, error) {
	table, ok := study[harness]
	if !ok {
		return nil, fmt.Errorf("trl: unknown harness %q: use %q or %q", harness, Lighteval, LMEval)
	}
	tag, err := language.Parse(lang)
	if err != nil {
		return nil, fmt.Errorf("trl: language %q is not a BCP-47 tag: %v", lang, err)
	}
	base, _ := tag.Base()
	expand := strings.NewReplacer("{lang}", base.String(), "{lang3}", base.ISO3())
	out := make([]Resolved, 0, len(bs))
	for _, b := range bs {
		r, known := table[b.Name]
		if b.Task != "" {
			r = Resolved{Task: b.Task, Shots: b.Shots, Metric: b.Metric}
			if harness == Lighteval && strings.Count(b.Task, "|") < 2 {
				r.Task = fmt.Sprintf("%s|%d", b.Task, b.Shots)
			}
		} else if !known {
			return nil, fmt.Errorf("trl: benchmark %q has no task and is not one of the study's (%s): give its harness task", b.Name, strings.Join(sortedKeys(table), ", "))
		}
		if b.Metric != "" {
			r.Metric = b.Metric
		}
		r.Name = b.Name
		r.Task = expand.Replace(r.Task)
		r.Metric = expand.Replace(r.Metric)
		out = append(out, r)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// EvalSpec describes one evaluation job.
type EvalSpec struct {
	Harness   string
	Model     string // checkpoint directory or hub id
	Language  string
	Plan      []Resolved
	OutputDir string
	// CustomTasks (lighteval) and IncludePath (lm-eval) point at task
	// definitions the harness does not ship.
	CustomTasks string
	IncludePath string
	BatchSize   string // lm-eval --batch_size; empty means "auto"
	Seed        int
	GPUs        int
	TimeLimit   string
}

type shotGroup struct {
	Shots int
	Tasks []string
	Names []string
}

// RenderEval renders the evaluation script as a job.
func RenderEval(s EvalSpec) (*sdk.Job, error) {
	if s.Model == "" || s.OutputDir == "" || len(s.Plan) == 0 {
		return nil, fmt.Errorf("trl: an evaluation job needs a model, an output directory and at least one benchmark")
	}
	data := struct {
		EvalSpec
		ModelArgs string
		TaskSpecs []string
		Groups    []shotGroup
	}{EvalSpec: s}
	if data.BatchSize == "" {
		data.BatchSize = "auto"
	}
	switch s.Harness {
	case Lighteval:
		data.ModelArgs = "model_name=" + s.Model + ",dtype=bfloat16"
		for _, r := range s.Plan {
			data.TaskSpecs = append(data.TaskSpecs, r.Task)
		}
	case LMEval:
		data.ModelArgs = "pretrained=" + s.Model + ",dtype=bfloat16"
		idx := map[int]int{}
		for _, r := range s.Plan {
			i, ok := idx[r.Shots]
			if !ok {
				i = len(data.Groups)
				idx[r.Shots] = i
				data.Groups = append(data.Groups, shotGroup{Shots: r.Shots})
			}
			data.Groups[i].Tasks = append(data.Groups[i].Tasks, r.Task)
			data.Groups[i].Names = append(data.Groups[i].Names, r.Name)
		}
	default:
		return nil, fmt.Errorf("trl: unknown harness %q: use %q or %q", s.Harness, Lighteval, LMEval)
	}
	script, err := render("eval.sh.tmpl", data)
	if err != nil {
		return nil, err
	}
	return &sdk.Job{
		Name:      "trl-eval-" + path.Base(s.Harness),
		Argv:      []string{"bash", EvalScript},
		Files:     map[string][]byte{EvalScript: script},
		Env:       map[string]string{"TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TELEMETRY": "1"},
		GPUs:      max(s.GPUs, 1),
		TimeLimit: s.TimeLimit,
	}, nil
}
