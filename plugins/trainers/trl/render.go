package trl

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
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

// tasksFS holds the study's task definitions the harnesses do not ship; the
// evaluation job gets a copy (ShippedTasks).
//
//go:embed tasks
var tasksFS embed.FS

// Where the shipped task definitions land in an evaluation job's folder.
const (
	LightevalTasksFile = "polyglot_lighteval_tasks.py"
	LMEvalTasksDir     = "polyglot_lm_eval_tasks"
)

// ShippedTasks returns the task files an evaluation job with the harness
// needs, keyed by their path in the job's folder.
func ShippedTasks(harness string) map[string][]byte {
	out := map[string][]byte{}
	switch harness {
	case Lighteval:
		b, _ := tasksFS.ReadFile("tasks/" + LightevalTasksFile)
		out[LightevalTasksFile] = b
	case LMEval:
		_ = fs.WalkDir(tasksFS, "tasks/lm_eval", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := tasksFS.ReadFile(p)
				out[path.Join(LMEvalTasksDir, strings.TrimPrefix(p, "tasks/lm_eval/"))] = b
			}
			return err
		})
	}
	return out
}

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

// Versions are the library releases the rendered scripts are written for
// and checked against (testdata/upstream holds their argument lists).
var Versions = struct {
	TRL, Transformers, PEFT                  string
	Unsloth, TRLUnsloth, TransformersUnsloth string
	Lighteval, LMEval                        string
}{
	TRL: "1.9.0", Transformers: "5.x", PEFT: "0.20.0",
	Unsloth: "2026.8.19", TRLUnsloth: "0.24.0", TransformersUnsloth: "5.5.0",
	Lighteval: "0.13.0", LMEval: "0.4.12",
}

// studyTargets are the projections the study adapted with LoRA.
var studyTargets = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// trainConfig is the JSON the script reads.
type trainConfig struct {
	BaseModel     string `json:"base_model"`
	Dataset       string `json:"dataset"`
	OutputDir     string `json:"output_dir"`
	MergeAdapter  bool   `json:"merge_adapter"`
	TargetModules any    `json:"lora_target_modules"`
	// ChatTemplate is the resolved template ("" keeps the tokenizer's);
	// FallbackChatTemplate is used when neither exists.
	ChatTemplate         string  `json:"chat_template"`
	FallbackChatTemplate string  `json:"fallback_chat_template"`
	WarmupSteps          float64 `json:"warmup_steps"`
	Hyper                Hyper   `json:"hyper"`
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
	switch {
	case len(s.Hyper.LoRATargets) > 0:
		targets = s.Hyper.LoRATargets
	case len(s.TargetModules) > 0:
		targets = s.TargetModules
	case s.Hyper.Unsloth:
		targets = studyTargets // Unsloth wants module names
	}
	warmup := s.Hyper.WarmupSteps
	if s.Hyper.WarmupRatio > 0 {
		warmup = s.Hyper.WarmupRatio
	}
	cfg, err := json.MarshalIndent(trainConfig{
		BaseModel: s.BaseModel, Dataset: s.Dataset, OutputDir: s.OutputDir,
		MergeAdapter: s.MergeAdapter && s.Hyper.Method != Full, TargetModules: targets,
		ChatTemplate: chatTemplate(s.Hyper.ChatTemplate), FallbackChatTemplate: ChatTemplates["chatml"],
		WarmupSteps: warmup, Hyper: s.Hyper,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	script, err := render("train.py.tmpl", struct {
		TrainSpec
		Versions any
	}{s, Versions})
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

// study is the study's benchmark suite per harness. Task names may use
// {lang} (ISO 639-1, "de") and {lang3} (ISO 639-3, "deu"). lighteval's are
// the tasks of the shipped custom-tasks file (its results are keyed
// "task|shots" from 0.12 on); lm-eval's are its own global_mmlu_{lang}
// (the Lite set) and mgsm_direct_{lang}, scored as the study did with the
// flexible-extract filter, and the shipped m_rewardbench_{lang}.
var study = map[string]map[string]Resolved{
	LMEval: {
		"global_mmlu_lite": {Task: "global_mmlu_{lang}", Shots: 0, Metric: "acc,none"},
		"mgsm":             {Task: "mgsm_direct_{lang}", Shots: 5, Metric: "exact_match,flexible-extract"},
		"m_rewardbench":    {Task: "m_rewardbench_{lang}", Shots: 0, Metric: "weighted_acc,none"},
	},
	Lighteval: {
		"global_mmlu_lite": {Task: "global_mmlu_lite_{lang}|0", Shots: 0, Metric: "acc"},
		"mgsm":             {Task: "mgsm_num_{lang}|5", Shots: 5, Metric: "extractive_match"},
		"m_rewardbench":    {Task: "m_rewardbench_{lang}|0", Shots: 0, Metric: "weighted_acc"},
	},
}

// studyMetric is each study benchmark's metric by its plain name, as a
// spec writes it; the harness's own key for it is in study.
var studyMetric = map[string]string{"global_mmlu_lite": "acc", "m_rewardbench": "weighted_acc", "mgsm": "extractive_match"}

// StudyBenchmarks are the study's three benchmarks, by name.
var StudyBenchmarks = []sdk.Benchmark{{Name: "global_mmlu_lite"}, {Name: "m_rewardbench"}, {Name: "mgsm"}}

// Resolve binds benchmarks to harness tasks for lang. A study benchmark
// whose task is unset or its own name runs the study's task; its metric is
// the harness's key for the study's metric unless the spec names another.
// Any other benchmark runs its task as written: lighteval tasks get
// "|shots" appended when they have no shot count.
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
		switch {
		case known && (b.Task == "" || b.Task == b.Name):
			if b.Metric != "" && b.Metric != studyMetric[b.Name] {
				r.Metric = b.Metric
			}
		case b.Task != "":
			r = Resolved{Task: b.Task, Shots: b.Shots, Metric: b.Metric}
			if harness == Lighteval && !strings.Contains(b.Task, "|") {
				r.Task = fmt.Sprintf("%s|%d", b.Task, b.Shots)
			}
		default:
			return nil, fmt.Errorf("trl: benchmark %q has no task and is not one of the study's (%s): give its harness task", b.Name, strings.Join(sortedKeys(table), ", "))
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
	// definitions the harness does not ship; empty uses the study's, which
	// the job gets a copy of (ShippedTasks).
	CustomTasks string
	IncludePath string
	BatchSize   string // lm-eval --batch_size; empty means "auto"
	// MaxModelLength is lighteval's vLLM max_model_length (the study: 8,192).
	MaxModelLength int
	Seed           int
	GPUs           int
	TimeLimit      string
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
		Versions  any
	}{EvalSpec: s, Versions: Versions}
	if data.BatchSize == "" {
		data.BatchSize = "auto"
	}
	files := map[string][]byte{}
	switch s.Harness {
	case Lighteval:
		if data.CustomTasks == "" {
			files = ShippedTasks(Lighteval)
			data.CustomTasks = LightevalTasksFile
		}
		if data.MaxModelLength == 0 {
			data.MaxModelLength = 8192
		}
		data.ModelArgs = fmt.Sprintf("model_name=%s,dtype=bfloat16,max_model_length=%d,seed=%d", s.Model, data.MaxModelLength, s.Seed)
		for _, r := range s.Plan {
			// 0.12 and later ignore a suite prefix (with a warning).
			data.TaskSpecs = append(data.TaskSpecs, LightevalKey(r.Task))
		}
	case LMEval:
		if data.IncludePath == "" {
			files = ShippedTasks(LMEval)
			data.IncludePath = LMEvalTasksDir
		}
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
	files[EvalScript] = script
	return &sdk.Job{
		Name:      "trl-eval-" + path.Base(s.Harness),
		Argv:      []string{"bash", EvalScript},
		Files:     files,
		Env:       map[string]string{"TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TELEMETRY": "1"},
		GPUs:      max(s.GPUs, 1),
		TimeLimit: s.TimeLimit,
	}, nil
}
