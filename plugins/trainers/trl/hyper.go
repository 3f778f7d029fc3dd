// Package trl trains students on GPUs the way the study did: supervised
// finetuning with Hugging Face TRL (optionally through Unsloth), then
// evaluation with lighteval or lm-evaluation-harness.
//
// Nothing here runs Python. The package renders what a GPU node needs: a
// chat-format dataset (WriteChatDataset), a training script and its JSON
// config (RenderTrain), an evaluation script for either harness (RenderEval),
// each as an sdk.Job for the host's executor (local, Slurm…) to run; and it
// reads what those tools leave behind (Collect, ParseLighteval, ParseLMEval).
// CheckGPU fails early, with a sentence saying what to do, when no CUDA
// device is visible.
//
// Scripts are rendered with text/template from templates/ (embedded), so a
// user can read exactly what will run; golden files in testdata/golden pin
// them (go test -run Golden -update rewrites them).
package trl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Method is how the student's weights are trained.
type Method string

const (
	// QLoRA: LoRA adapters on a 4-bit (NF4) quantised base; the study's
	// published numbers most likely come from this.
	QLoRA Method = "qlora"
	// LoRA: adapters on a bf16 base.
	LoRA Method = "lora"
	// Full finetuning of every weight.
	Full Method = "full"
)

// Hyper are the training hyper-parameters. JSON names are the keys users
// write in an experiment's hyperparameters map.
type Hyper struct {
	Method       Method  `json:"method"`
	LearningRate float64 `json:"learning_rate"`
	Epochs       float64 `json:"epochs"`
	MaxLength    int     `json:"max_length"`
	WeightDecay  float64 `json:"weight_decay"`
	Scheduler    string  `json:"lr_scheduler"`
	Optimizer    string  `json:"optimizer"`
	// WarmupSteps is the number of linear warm-up steps; a value below 1
	// is a share of all steps (transformers 5 reads warmup_steps so).
	WarmupSteps float64 `json:"warmup_steps"`
	// WarmupRatio is the older spelling of a fractional WarmupSteps;
	// transformers 5.2 removed the argument, so the script passes it as
	// warmup_steps.
	WarmupRatio float64 `json:"warmup_ratio"`
	BatchSize   int     `json:"batch_size"`
	GradAccum   int     `json:"gradient_accumulation_steps"`
	LoRAR       int     `json:"lora_r"`
	LoRAAlpha   int     `json:"lora_alpha"`
	LoRADropout float64 `json:"lora_dropout"`
	// LoRATargets are the modules LoRA adapts; empty means every linear
	// layer ("all-linear").
	LoRATargets []string `json:"lora_target_modules"`
	Seed        int      `json:"seed"`
	Unsloth     bool     `json:"unsloth"`
	// ChatTemplate is a Jinja chat template or the name of one polyglot
	// ships (ChatTemplates: "llama-3.1", "chatml"); empty keeps the
	// tokenizer's own, falling back to ChatML for base models that have none.
	ChatTemplate string `json:"chat_template"`
	// PackSequences packs short examples into max_length windows.
	PackSequences bool `json:"packing"`
}

// DefaultHyper returns the study's settings (docs/method.md §4), as its
// code trained: QLoRA r=16 α=16 dropout 0 in 4 bits, LR 5e-5, 2 epochs,
// per-device batch 2 × gradient accumulation 4, max length 16,384, 8-bit
// AdamW with weight decay 0.001, a linear schedule after 5 warm-up steps,
// seed 3407.
func DefaultHyper() Hyper {
	return Hyper{
		Method:       QLoRA,
		LearningRate: 5e-5,
		Epochs:       2,
		MaxLength:    16384,
		WeightDecay:  0.001,
		Scheduler:    "linear",
		Optimizer:    "adamw_8bit",
		WarmupSteps:  5,
		BatchSize:    2,
		GradAccum:    4,
		LoRAR:        16,
		LoRAAlpha:    16,
		Seed:         3407,
	}
}

// ChatTemplates are the chat templates a hyperparameters map can name.
// "llama-3.1" is the Llama 3.1 turn format the study put on its OLMo
// students (a header around each role, <|eot_id|> after each turn);
// "chatml" is the <|im_start|> format. Both are written for polyglot's
// datasets: system, user and assistant messages, no tools.
var ChatTemplates = map[string]string{
	"llama-3.1": "{{- bos_token }}" +
		"{%- for message in messages %}" +
		"{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}" +
		"{%- endfor %}" +
		"{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
	"chatml": "{%- for message in messages %}" +
		"{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
		"{%- endfor %}" +
		"{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
}

// chatTemplate resolves a ChatTemplate value: a name from ChatTemplates,
// or Jinja text as it is.
func chatTemplate(v string) string {
	if t, ok := ChatTemplates[v]; ok {
		return t
	}
	return v
}

// HyperFromMap overlays user hyper-parameters on the defaults. Unknown keys
// are an error (a misspelt "learning_rte" must not silently train with the
// default).
func HyperFromMap(m map[string]any) (Hyper, error) {
	h := DefaultHyper()
	if len(m) == 0 {
		return h, h.Validate()
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return h, fmt.Errorf("trl: hyper-parameters: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, fmt.Errorf("trl: hyper-parameters: %v (known keys: %s)", err, strings.Join(hyperKeys(), ", "))
	}
	return h, h.Validate()
}

func hyperKeys() []string {
	var out []string
	raw, _ := json.Marshal(DefaultHyper())
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Validate checks ranges and combinations.
func (h Hyper) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	switch h.Method {
	case QLoRA, LoRA, Full:
	default:
		bad("method %q is not one of qlora, lora, full", h.Method)
	}
	if !(h.LearningRate > 0 && h.LearningRate < 1) {
		bad("learning_rate %g must be in (0, 1)", h.LearningRate)
	}
	if !(h.Epochs > 0) {
		bad("epochs %g must be positive", h.Epochs)
	}
	if h.MaxLength < 16 {
		bad("max_length %d is too small", h.MaxLength)
	}
	if h.WeightDecay < 0 {
		bad("weight_decay %g must not be negative", h.WeightDecay)
	}
	if h.WarmupRatio < 0 || h.WarmupRatio >= 1 {
		bad("warmup_ratio %g must be in [0, 1)", h.WarmupRatio)
	}
	if h.WarmupSteps < 0 || (h.WarmupSteps > 1 && h.WarmupSteps != float64(int64(h.WarmupSteps))) {
		bad("warmup_steps %g must be a whole number of steps, or a share of all steps below 1", h.WarmupSteps)
	}
	if h.WarmupRatio > 0 && h.WarmupSteps > 0 {
		bad("warmup_steps (%g) and warmup_ratio (%g) are both set; keep one (warmup_steps = %g is the same as the ratio)", h.WarmupSteps, h.WarmupRatio, h.WarmupRatio)
	}
	if h.ChatTemplate != "" && ChatTemplates[h.ChatTemplate] == "" && !strings.Contains(h.ChatTemplate, "{") {
		bad("chat_template %q is neither a template polyglot ships (%s) nor Jinja text", h.ChatTemplate, strings.Join(sortedKeys(ChatTemplates), ", "))
	}
	if h.BatchSize < 1 || h.GradAccum < 1 {
		bad("batch_size (%d) and gradient_accumulation_steps (%d) must be at least 1", h.BatchSize, h.GradAccum)
	}
	if h.Method != Full && (h.LoRAR < 1 || h.LoRAAlpha < 1) {
		bad("lora_r (%d) and lora_alpha (%d) must be at least 1 for %s", h.LoRAR, h.LoRAAlpha, h.Method)
	}
	if h.LoRADropout < 0 || h.LoRADropout >= 1 {
		bad("lora_dropout %g must be in [0, 1)", h.LoRADropout)
	}
	switch h.Scheduler {
	case "linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial", "inverse_sqrt":
	default:
		bad("lr_scheduler %q is not a transformers scheduler name (linear, cosine, constant…)", h.Scheduler)
	}
	if h.Optimizer == "" {
		bad("optimizer must be set (adamw_8bit is the study's)")
	}
	if len(errs) > 0 {
		return fmt.Errorf("trl: bad hyper-parameters: %s", strings.Join(errs, "; "))
	}
	return nil
}
