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

# polyglot starts `ollama serve` itself (the server block below) and stops
# it when the run ends. To use an Ollama you run yourself instead, set
# -var ollama_url=http://127.0.0.1:11434/v1: the teachers then go there and
# the server block is never started.
variable "ollama_url" {
  type        = string
  default     = ""
  description = "OpenAI-compatible endpoint of an Ollama you run yourself; empty: polyglot runs its own"
}

variable "ollama" {
  type        = string
  default     = "ollama"
  description = "the ollama executable polyglot starts (a name on PATH or a path)"
}

variable "ollama_env" {
  type        = map(string)
  default     = {}
  description = "environment of the ollama server, e.g. { OLLAMA_MODELS = \"/data/ollama\" }"
}

variable "models" {
  type = map(string)
  default = {
    gemma3  = "gemma3:12b"
    llama31 = "llama3.1:8b"
    aya     = "aya-expanse:8b"
  }
  description = "the Ollama model of each teacher (CI puts a tiny test model in all three)"
}

server "ollama" {
  engine  = "ollama"
  command = [var.ollama]
  env     = var.ollama_env
  ready {
    timeout = "2m"
  }
}

locals {
  ollama_url = var.ollama_url != "" ? var.ollama_url : server.ollama.url
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
