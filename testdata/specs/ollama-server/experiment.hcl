# Used by core/command/ollama_servers_test.go: polyglot starts a real Ollama
# itself (server.hcl: on this machine; slurm/server.hcl: as a job on Slurm),
# serving the tests' tiny random-weight model from a models folder the test
# prepares (internal/ollamatest). The teacher generates through it and the
# diversity metric embeds through it; the output is gibberish.
experiment "ollama-server" {
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
  default = 8
}

variable "seeds" {
  type        = string
  description = "seed prompts (JSONL with id, language, prompt, response)"
}

variable "ollama_bin" {
  type        = string
  default     = "ollama"
  description = "the ollama executable"
}

variable "models" {
  type        = string
  description = "OLLAMA_MODELS folder that holds polyglot-tiny"
}

variable "home" {
  type        = string
  description = "HOME of the server (Ollama keeps a key pair there)"
}

# The tiny model ends an answer after about 30 tokens; 512 leaves no room
# for a truncated one.
variable "max_tokens" {
  type    = number
  default = 512
}

seeds "prompts" {
  path = var.seeds
}

teacher "tiny" {
  plugin = "openai"
  model  = server.tiny.model
  sampling {
    temperature = 1.0
    max_tokens  = var.max_tokens
  }
  limits {
    concurrency = 2
    timeout     = "120s"
    max_retries = 8
  }
  config {
    base_url = server.tiny.url
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

metric "diversity" {
  plugin = "diversity"
  config {
    embedder = "endpoint"
    base_url = server.tiny.url
    model    = server.tiny.model
  }
}
