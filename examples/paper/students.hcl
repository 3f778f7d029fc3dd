# Extrinsic quality (docs/method.md section 4): an OLMo 3 7B base student is
# finetuned on each cell's 10,500 examples and evaluated next to the base and
# the reference (OLMo 3 7B Instruct SFT); the Performance Gap Recovered is
# computed per benchmark.

variable "olmo_base" {
  type        = string
  default     = "allenai/Olmo-3-1025-7B"
  description = "student base model (hub id or local path)"
}

variable "olmo_reference" {
  type        = string
  default     = "allenai/Olmo-3-7B-Instruct-SFT"
  description = "reference model: the same base after the Instruct SFT stage"
}

variable "slurm" {
  type = object({ partition = string, account = string, qos = string })
  default = {
    partition = "gpu"
    account   = ""
    qos       = ""
  }
  description = "where the training and evaluation jobs go"
}

variable "lighteval_custom_tasks" {
  type        = string
  default     = ""
  description = "lighteval --custom-tasks file defining community|global_mmlu_lite_* and community|m_rewardbench_mc_*"
}

student "olmo3_7b" {
  base_model = var.olmo_base
  family     = "olmo"
  reference  = var.olmo_reference
  trainer    = "trl"

  # The study's settings: QLoRA (r = 16, alpha = 16, 4-bit base), AdamW,
  # learning rate 5e-5, 2 epochs, max length 16,384, weight decay 0.001,
  # linear schedule.
  hyperparameters = {
    method        = "qlora"
    lora_r        = 16
    lora_alpha    = 16
    learning_rate = 5e-5
    epochs        = 2
    max_length    = 16384
    weight_decay  = 0.001
    lr_scheduler  = "linear"
    optimizer     = "adamw_torch"
  }

  executor "slurm" {
    partition = var.slurm.partition
    account   = var.slurm.account
    qos       = var.slurm.qos
    gpus      = 1
    time      = "24:00:00"
  }

  config {
    harness      = "lighteval"
    custom_tasks = var.lighteval_custom_tasks
    gpus         = 1
    time_limit   = "24:00:00"
  }
}

# The study's benchmarks, each on the languages it exists for; a language's
# extrinsic score is the mean over the benchmarks it has. Task names are
# lighteval's ({lang} = ISO 639-1, {lang3} = ISO 639-3).

# Global-MMLU-Lite: 0-shot multiple-choice log-likelihood, accuracy.
benchmark "global_mmlu_lite" {
  languages = ["ar", "de", "es", "id", "ja"]
  task      = "community|global_mmlu_lite_{lang}|0"
  shots     = 0
  metric    = "acc"
}

# M-RewardBench in multiple-choice form, weighted accuracy.
benchmark "m_rewardbench" {
  languages = ["ar", "cs", "de", "es", "id", "ja"]
  task      = "community|m_rewardbench_mc_{lang}|0"
  shots     = 0
  metric    = "acc"
}

# MGSM: 5-shot, generative, extractive numeric match.
benchmark "mgsm" {
  languages = ["de", "es", "ja"]
  task      = "lighteval|mgsm_{lang3}|5"
  shots     = 5
  metric    = "exact_match_{lang3}_full"
}

# The Polyglot Score as published (docs/method.md section 5): alpha = 0.5,
# PGR per benchmark then the mean, pooled z-scores summed without
# re-standardising. Intervals over the 3 seeds and bootstrap resamples.
# The intrinsic part is every metric with in_score = true: d_x and d_y
# (diversity), perplexity and the judge score.
score {
  alpha       = 0.5
  pgr         = "ratio_then_mean"
  standardize = "published"
  confidence  = 0.95
  bootstrap   = 1000
  alphas      = [0, 0.25, 0.5, 0.75, 1]
  pca         = "study" # the study's six raw features
  components  = 4       # the study reports the first four
}
