# Used by the re-run benchmark (core/command/rerun_test.go) and the export
# tests: one OpenAI-compatible teacher served by a local test server, and
# one offline metric, so that a finished run has generation, metric and
# score units to find done.
experiment "rerun" {
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
  default     = 100000
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
  default = 32
}

variable "temperature" {
  type    = number
  default = 0.7
}

seeds "prompts" {
  path = var.seeds
}

teacher "local" {
  plugin = "openai"
  model  = "rerun-1"
  config {
    base_url = var.base_url
    api_key  = "sk-test-not-a-real-key"
  }
  sampling {
    temperature = var.temperature
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

metric "length" {
  plugin    = "length"
  direction = "higher"
  in_score  = false
}
