# Used by core/command/servers_test.go: the one teacher is served by a
# model server polyglot starts itself (the `command` engine running the
# test's OpenAI-compatible server binary), reached as server.fake.url.
experiment "servers" {
  languages         = ["de"]
  examples_per_cell = var.examples
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "examples" {
  type    = number
  default = 40
}

variable "seeds" {
  type        = string
  description = "seed prompts (JSONL with id, language, prompt, response)"
}

variable "server_bin" {
  type        = string
  description = "the test's OpenAI-compatible server binary"
}

variable "server_args" {
  type    = list(string)
  default = []
}

seeds "prompts" {
  path = var.seeds
}

server "fake" {
  engine   = "command"
  command  = concat([var.server_bin, "-listen", "{host}:{port}", "-model", "fake-1"], var.server_args)
  restarts = 3
  ready {
    timeout  = "30s"
    interval = "100ms"
  }
}

teacher "local" {
  plugin = "openai"
  model  = "fake-1"
  config {
    base_url = server.fake.url
    api_key  = "sk-test-not-a-real-key"
  }
  limits {
    concurrency = 4
    timeout     = "30s"
    max_retries = 8
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
