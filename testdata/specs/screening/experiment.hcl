# Used by the screening end-to-end test (core/command/screening_test.go):
# four teachers of one language, three replaying data through the built-in
# dataset plugin (one cutting every answer to a fifth, one half of them) and one
# OpenAI-compatible teacher served by the test's own server, which counts
# the requests. Stages of 10 and 30 examples per cell decide on response
# length; the full run is var.examples per cell.
experiment "screening" {
  languages         = ["de"]
  examples_per_cell = var.examples
  metric_sample     = var.examples
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "examples" {
  type    = number
  default = 60
}

variable "seeds" {
  type        = string
  default     = "../../../examples/quickstart/data/seeds/de.jsonl"
  description = "seed prompts (JSONL with id, language, prompt, response)"
}

variable "base_url" {
  type    = string
  default = "http://127.0.0.1:9/v1"
}

variable "concurrency" {
  type    = number
  default = 8
}

variable "stages" {
  type    = list(number)
  default = [10, 30]
}

variable "screen" {
  type        = bool
  default     = true
  description = "false continues the run without screening"
}

seeds "prompts" {
  path = var.seeds
}

teacher "human" {
  plugin = "dataset"
  model  = "human-written"
  config {
    path = var.seeds
  }
}

teacher "truncated" {
  plugin = "dataset"
  model  = "human-truncated"
  config {
    path       = var.seeds
    corruption = "truncate"
  }
}

teacher "partly" {
  plugin = "dataset"
  model  = "human-partly-truncated"
  config {
    path       = var.seeds
    corruption = "truncate"
    fraction   = 0.5
  }
}

teacher "api" {
  plugin = "openai"
  model  = "screening-1"
  config {
    base_url = var.base_url
    api_key  = "sk-test-not-a-real-key"
  }
  price {
    input_per_mtok  = 1
    output_per_mtok = 4
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
}

screening {
  stages  = var.stages
  score   = "metrics"
  metrics = ["length.response_chars"]
  enabled = var.screen
}
