# Local teachers through Ollama: three open models generate German, Spanish
# and Japanese data on this machine, offline metrics measure it, and the
# embedded CPU student (a character n-gram model) learns from it. No API
# key, no GPU needed for the student; see README.md.

experiment "ollama" {
  allow_read = ["../quickstart/data"] # files this spec reads outside its folder

  languages = ["de", "es", "ja"]
  seeds     = [1]
  store     = ".polyglot"

  # 20 examples per strategy and cell: enough to see differences between
  # teachers in an afternoon on one machine. The study used 10500.
  examples_per_cell = var.examples_per_cell
  metric_sample     = var.examples_per_cell
}

variable "examples_per_cell" {
  type        = number
  default     = 60
  description = "examples per (teacher, language), split equally by the three strategies"
}

variable "data" {
  type        = string
  default     = "../quickstart/data"
  description = "folder with seeds/{lang}.jsonl, reference/{lang}.txt, heldout/{lang}.txt and mc/{lang}.jsonl (the quickstart's data by default)"
}

variable "ollama_url" {
  type        = string
  default     = "http://127.0.0.1:11434/v1"
  description = "Ollama's OpenAI-compatible endpoint"
}

# Human-written prompts and answers in the target languages; they feed the
# generate (as in-context examples) and respond strategies.
seeds "native" {
  path = "${var.data}/seeds/*.jsonl"
  columns {
    tags = "task_family"
  }
}

# English prompts for the translate strategy.
seeds "english" {
  path     = "data/seeds/en.jsonl"
  language = "en"
  columns {
    tags = "task_family"
  }
}
