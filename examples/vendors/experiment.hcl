# Vendor APIs next to a local model: OpenAI, Anthropic, Google and Cohere
# teachers, and an open model served by vLLM on this machine, generate
# Arabic, German and Japanese data. Keys come from the environment; every
# teacher has a price, rate limits and its own budget, and the experiment as
# a whole has a spend cap. An LM judge (one of the teachers) grades the
# data. See README.md.

experiment "vendors" {
  languages         = ["ar", "de", "ja"]
  seeds             = [1]
  examples_per_cell = var.examples_per_cell
  metric_sample     = var.examples_per_cell

  # Cap over all teachers and the judge together: each call reserves its
  # estimated cost first, and a call that does not fit is not sent.
  budget_usd = var.budget_usd
}

variable "examples_per_cell" {
  type        = number
  default     = 300
  description = "examples per (teacher, language), split equally by the three strategies"
}

variable "budget_usd" {
  type        = number
  default     = 60
  description = "spend cap in USD for the whole experiment"
}

variable "native_seeds" {
  type        = string
  default     = "data/native/*.jsonl"
  description = "native prompts and answers, with a language column (a file or glob)"
}

variable "english_seeds" {
  type        = string
  default     = "data/english/en.jsonl"
  description = "English prompts for the translate strategy"
}

variable "vllm_url" {
  type        = string
  default     = "http://127.0.0.1:8000/v1"
  description = "vLLM server of the local teacher"
}

variable "ppl_url" {
  type        = string
  default     = "http://127.0.0.1:8001/v1"
  description = "vLLM server of the perplexity reference model (a base model, not an instruct one)"
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
