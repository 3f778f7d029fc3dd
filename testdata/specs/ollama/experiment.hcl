# Used by core/command/ollama_test.go: the openai teacher generates through
# a real Ollama that the test starts (internal/ollamatest), serving a tiny
# random-weight model, and the diversity metric gets its embeddings from the
# same server. The output is gibberish; what is under test is that each
# component speaks Ollama's OpenAI-compatible API as Ollama really answers.
experiment "ollama" {
  allow_read = ["../../../examples/quickstart/data"] # files this spec reads outside its folder

  languages         = ["de"]
  examples_per_cell = var.examples
  metric_sample     = var.examples
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "base_url" {
  type        = string
  default     = "http://127.0.0.1:11434/v1"
  description = "Ollama's OpenAI-compatible API root"
}

variable "model" {
  type    = string
  default = "polyglot-tiny"
}

variable "examples" {
  type    = number
  default = 8
}

seeds "prompts" {
  path = "../../../examples/quickstart/data/seeds/de.jsonl"
}

teacher "tiny" {
  plugin = "openai"
  model  = var.model
  sampling {
    temperature = 1.0
    max_tokens  = 512
  }
  limits {
    concurrency = 2
    timeout     = "120s"
    max_retries = 1
  }
  config {
    base_url = var.base_url
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

# Embeddings from the same server (its /v1/embeddings).
metric "diversity" {
  plugin = "diversity"
  config {
    embedder = "endpoint"
    base_url = var.base_url
    model    = var.model
  }
}
