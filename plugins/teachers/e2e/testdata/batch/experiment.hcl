# Batch-mode runs of the teacher e2e tests (batch_*_test.go): an OpenAI
# and an Anthropic teacher in batch mode on the fake provider, the
# structured translate strategy only (so malformed answers can be
# re-asked), one language, and seed rows the test writes. Chunk size,
# re-asks, concurrency, prices and the budget are variables.
experiment "teachers-batch" {
  languages         = ["de"]
  examples_per_cell = var.examples_per_cell
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "seeds" {
  type        = string
  description = "English seed rows (the test writes them)"
}

variable "examples_per_cell" {
  type    = number
  default = 9
}

variable "openai_url" {
  type    = string
  default = "http://127.0.0.1:9/v1"
}

variable "anthropic_url" {
  type    = string
  default = "http://127.0.0.1:9"
}

variable "batch" {
  type    = bool
  default = true
}

variable "batch_max_requests" {
  type    = number
  default = 10000
}

variable "concurrency" {
  type    = number
  default = 4
}

variable "reasks" {
  type    = number
  default = 0
}

variable "budget_usd" {
  type    = number
  default = 1000
}

variable "input_per_mtok" {
  type    = number
  default = 2.5
}

variable "max_tokens" {
  type    = number
  default = 256
}

seeds "english" {
  path     = var.seeds
  language = "en"
}

teacher "gpt" {
  plugin             = "openai"
  model              = "gpt-fake-1"
  batch              = var.batch
  batch_max_requests = var.batch_max_requests
  price {
    input_per_mtok  = var.input_per_mtok
    output_per_mtok = 10
  }
  limits {
    concurrency = var.concurrency
    timeout     = "5s"
    reasks      = var.reasks
    budget_usd  = var.budget_usd
  }
  config {
    base_url = var.openai_url
    api_key  = env("POLYGLOT_E2E_KEY")
  }
}

teacher "claude" {
  plugin             = "anthropic"
  model              = "claude-fake-1"
  batch              = var.batch
  batch_max_requests = var.batch_max_requests
  price {
    input_per_mtok  = var.input_per_mtok
    output_per_mtok = 15
  }
  limits {
    concurrency = var.concurrency
    timeout     = "5s"
    reasks      = var.reasks
    budget_usd  = var.budget_usd
  }
  config {
    base_url   = var.anthropic_url
    api_key    = env("POLYGLOT_E2E_KEY")
    omit_top_p = true
  }
}

strategy "translate" {
  input {
    language = "en"
  }
  step "translate" {
    system     = "templates/system.txt"
    template   = "templates/translate.txt"
    output     = "json"
    schema     = { prompt = "string", response = "string" }
    max_tokens = var.max_tokens
  }
  emit {
    prompt   = "steps.translate.prompt"
    response = "steps.translate.response"
  }
}
