# Used by the chaos test (core/command/chaos_test.go) and the re-run
# benchmark (rerun_test.go): one OpenAI-compatible teacher, served by a
# local HTTP server the test starts, answers one language's seed prompts.
# Only generation runs: what is under test is that a run killed at any
# moment resumes without losing, duplicating or re-paying for results.
experiment "chaos" {
  allow_read = ["../../../examples/quickstart/data"] # files this spec reads outside its folder

  languages         = ["de"]
  examples_per_cell = var.examples
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "examples" {
  type        = number
  default     = 10000
  description = "examples in the one cell"
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
  default = 16
}

seeds "prompts" {
  path = var.seeds
}

teacher "local" {
  plugin = "openai"
  model  = "chaos-1"
  config {
    base_url = var.base_url
    api_key  = "sk-test-not-a-real-key"
  }
  limits {
    concurrency = var.concurrency
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
