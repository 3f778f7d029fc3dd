# Fault and throughput runs of the teacher e2e tests: one OpenAI and one
# Anthropic teacher on the fake provider, the respond strategy only, and
# seed rows the test writes (each prompt distinct, so that no answer can
# come from the response cache and every request reaches the server).
experiment "teachers-faults" {
  allow_read = ["../data", "../templates"] # files this spec reads outside its folder

  languages         = var.languages
  examples_per_cell = var.examples_per_cell
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "languages" {
  type    = list(string)
  default = ["de", "es"]
}

variable "seeds" {
  type        = string
  default     = "../data/seeds/*.jsonl"
  description = "seed rows (the test writes its own)"
}

variable "examples_per_cell" {
  type    = number
  default = 500
}

variable "openai_url" {
  type    = string
  default = "http://127.0.0.1:9/v1"
}

variable "anthropic_url" {
  type    = string
  default = "http://127.0.0.1:9"
}

variable "concurrency" {
  type    = number
  default = 64
}

variable "batch" {
  type    = bool
  default = false
}

variable "timeout" {
  type    = string
  default = "2s"
}

variable "max_retry_wait" {
  type    = string
  default = "5m"
}

variable "gpt_model" {
  type    = string
  default = "gpt-fake-1"
}

seeds "rows" {
  path = var.seeds
}

teacher "gpt" {
  plugin = "openai"
  model  = var.gpt_model
  batch  = var.batch
  price {
    input_per_mtok  = 2.5
    output_per_mtok = 10
  }
  sampling {
    max_tokens = 64
  }
  limits {
    concurrency = var.concurrency
    timeout        = var.timeout
    max_retries    = 8
    max_retry_wait = var.max_retry_wait
  }
  config {
    base_url = var.openai_url
    api_key  = env("POLYGLOT_E2E_KEY")
  }
}

teacher "claude" {
  plugin = "anthropic"
  model  = "claude-fake-1"
  batch  = var.batch
  price {
    input_per_mtok  = 3
    output_per_mtok = 15
  }
  sampling {
    max_tokens = 64
  }
  limits {
    concurrency = var.concurrency
    timeout        = var.timeout
    max_retries    = 8
    max_retry_wait = var.max_retry_wait
  }
  config {
    base_url   = var.anthropic_url
    api_key    = env("POLYGLOT_E2E_KEY")
    omit_top_p = true
  }
}

strategy "respond" {
  step "respond" {
    system   = "../templates/system.txt"
    template = "../templates/respond.txt"
  }
  emit {
    prompt   = "seed.prompt"
    response = "steps.respond.text"
  }
}
