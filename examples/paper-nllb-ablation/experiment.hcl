# The reference study's ablation of the translate strategy (see
# docs/method.md): NLLB-200 translates each English seed prompt and the
# teacher answers the translation (translate_nllb), next to the one-step
# translate strategy of examples/paper, on the same teachers, languages and
# seeds, 3,500 examples of each per cell. The intrinsic metrics are those of
# examples/paper; the report compares the two strategies per language.
#
# teachers.hcl, metrics.hcl, translate.hcl and their templates are copies
# of examples/paper's (a test keeps them identical); mt.hcl and
# translate_nllb.hcl are the ablation's own.

experiment "polyglot-teachers-nllb-ablation" {
  languages         = ["ar", "cs", "de", "es", "id", "ja"]
  seeds             = [1, 2, 3]
  examples_per_cell = 7000 # 3,500 per strategy
  metric_sample     = 7000
  budget_usd        = var.budget_usd
}

variable "budget_usd" {
  type        = number
  default     = 3000
  description = "spend cap in USD over the vendor teachers (GPT-4o mini, Command A)"
}

variable "english_seeds" {
  type        = string
  default     = "data/english/*.jsonl"
  description = "English prompts; feed translate and translate_nllb (the study: GSM8K train and Magpie Pro)"
}

seeds "english" {
  path     = var.english_seeds
  language = "en"
  columns {
    tags = "task_family"
  }
}
