# The Polyglot Teachers study (Miranda, Vulić, Korhonen, 2026; see
# docs/method.md): 10 teachers x 6 languages, 3 strategies in equal shares,
# 10,500 examples per cell for training and a 10,000-example stratified
# sample for the intrinsic metrics, OLMo 3 7B students trained with QLoRA on
# Slurm and evaluated on Global-MMLU-Lite, M-RewardBench and MGSM, all over
# 3 seeds. README.md says what this costs and where it still differs from
# the study.

experiment "polyglot-teachers" {
  languages         = ["ar", "cs", "de", "es", "id", "ja"]
  seeds             = [1, 2, 3]
  examples_per_cell = 10500 # 3,500 per strategy
  metric_sample     = 10000
  budget_usd        = var.budget_usd
}

variable "budget_usd" {
  type        = number
  default     = 3000
  description = "spend cap in USD over the vendor teachers (GPT-4o mini, Command A); served models cost nothing per token"
}

# The study's seed data came from public human-written sets: Aya Dataset,
# WildChat, OpenAssistant 2, EuroBlocks SFT, HelpSteer3 (multilingual),
# CIDAR (ar) and Cendol (id) for generate and respond; GSM8K train and
# Magpie Pro (English) for translate. Bring them in the seed format (prompt,
# response, language, strategies, task_family) and point these variables at
# them; the files in data/ are a few rows per language so that the spec
# validates and plans.
variable "native_seeds" {
  type        = string
  default     = "data/native/*.jsonl"
  description = "native prompts (and responses) in the six languages; feed generate and respond"
}

variable "english_seeds" {
  type        = string
  default     = "data/english/*.jsonl"
  description = "English prompts; feed translate"
}

seeds "native" {
  path = var.native_seeds
  columns {
    tags = "task_family"
  }
}

seeds "english" {
  path     = var.english_seeds
  language = "en"
  columns {
    tags = "task_family"
  }
}
