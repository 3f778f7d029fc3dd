# End-to-end spec of the teacher path (plugins/teachers/e2e): an OpenAI
# teacher and an Anthropic teacher served by the test's fake provider on
# 127.0.0.1, next to the offline dataset teacher, over two languages and
# the three single-step strategies. The offline relevance metric and an
# n-gram cpu student give the report something to rank. Every value the
# test changes is a variable.
experiment "teachers-e2e" {
  languages         = ["de", "es"]
  examples_per_cell = var.examples_per_cell
  metric_sample     = var.examples_per_cell
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "examples_per_cell" {
  type        = number
  default     = 6
  description = "examples per (teacher, language), split equally by the three strategies"
}

variable "openai_url" {
  type        = string
  default     = "http://127.0.0.1:9/v1"
  description = "the fake provider's OpenAI root (the test sets it)"
}

variable "anthropic_url" {
  type        = string
  default     = "http://127.0.0.1:9"
  description = "the fake provider's Anthropic root (the test sets it)"
}

variable "batch" {
  type        = bool
  default     = false
  description = "use the providers' batch APIs instead of one call per request"
}

variable "concurrency" {
  type    = number
  default = 8
}

variable "root" {
  type        = string
  default     = "../../.."
  description = "the repository root, where the quickstart's reference texts live"
}

seeds "native" {
  path = "data/seeds/*.jsonl"
  columns {
    tags = "task_family"
  }
}

teacher "gpt" {
  plugin = "openai"
  model  = "gpt-fake-1"
  family = "gpt"
  batch  = var.batch
  price {
    input_per_mtok  = 2.5
    output_per_mtok = 10
  }
  sampling {
    max_tokens = 256
  }
  limits {
    concurrency = var.concurrency
    timeout     = "2s"
    max_retries = 8
  }
  config {
    base_url = var.openai_url
    api_key  = env("POLYGLOT_E2E_KEY")
  }
}

teacher "claude" {
  plugin = "anthropic"
  model  = "claude-fake-1"
  family = "claude"
  batch  = var.batch
  price {
    input_per_mtok  = 3
    output_per_mtok = 15
  }
  sampling {
    max_tokens = 256
  }
  limits {
    concurrency = var.concurrency
    timeout     = "2s"
    max_retries = 8
  }
  config {
    base_url   = var.anthropic_url
    api_key    = env("POLYGLOT_E2E_KEY")
    omit_top_p = true
  }
}

# Human data replayed offline: the baseline the API teachers are ranked against.
teacher "human" {
  plugin = "dataset"
  model  = "human-written"
  family = "human"
  config {
    path = "data/seeds/*.jsonl"
  }
}

metric "relevance" {
  plugin = "relevance"
}

student "ngram" {
  base_model = "kneser-ney-5"
  family     = "ngram"
  trainer    = "cpu"
  config {
    base_corpus = "${var.root}/examples/quickstart/data/reference/{lang}.txt"
  }
}

benchmark "heldout" {
  task = "${var.root}/examples/quickstart/data/heldout/{lang}.txt"
}
