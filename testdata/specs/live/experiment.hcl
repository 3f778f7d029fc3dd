# Used by the live view's tests (core/command/ui_test.go): two
# OpenAI-compatible teachers, served by a local HTTP server the test starts
# (slowly, so the run is still going while the page is checked), answer
# one language's seed prompts; two metrics score them as they land, so the
# view has spend against budgets, metric values, a provisional ranking and
# examples to show.
experiment "live" {
  allow_read = ["../../../examples/quickstart/data"] # files this spec reads outside its folder

  languages         = ["de"]
  examples_per_cell = var.examples
  metric_sample     = var.examples
  store             = var.store
  budget_usd        = 50
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "examples" {
  type        = number
  default     = 200
  description = "examples per teacher"
}

variable "seeds" {
  type        = string
  default     = "../../../examples/quickstart/data/seeds/de.jsonl"
  description = "seed prompts (JSONL with id, language, prompt, response)"
}

variable "base_url" {
  type        = string
  default     = "http://127.0.0.1:9/v1"
  description = "the test server's API root"
}

variable "concurrency" {
  type    = number
  default = 8
}

variable "brief_concurrency" {
  type        = number
  default     = 1
  description = "the second teacher's concurrency: lower, so it finishes later"
}

seeds "prompts" {
  path = var.seeds
}

teacher "plain" {
  plugin = "openai"
  model  = "live-plain"
  config {
    base_url = var.base_url
    api_key  = "sk-test-not-a-real-key"
  }
  price {
    input_per_mtok  = 3
    output_per_mtok = 15
  }
  limits {
    concurrency = var.concurrency
    timeout     = "30s"
    budget_usd  = 20
  }
}

teacher "brief" {
  plugin = "openai"
  model  = "live-brief"
  config {
    base_url = var.base_url
    api_key  = "sk-test-not-a-real-key"
  }
  price {
    input_per_mtok  = 1
    output_per_mtok = 5
  }
  limits {
    concurrency = var.brief_concurrency
    timeout     = "30s"
  }
}

strategy "respond" {
  input {
    seeds = seeds.prompts
  }
  step "answer" {
    system   = "templates/system.txt"
    template = "templates/respond.txt"
  }
  emit {
    prompt   = "seed.prompt"
    response = "steps.answer.text"
  }
}

metric "length" {
  plugin    = "length"
  direction = "higher"
}

metric "diversity" {
  plugin = "diversity"
}
