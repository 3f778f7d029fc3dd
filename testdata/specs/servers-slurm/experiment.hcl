# Used by core/command/servers_test.go: testdata/specs/servers-run with the
# model server submitted as a job to the single-node Slurm of the tests.
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

variable "partition" {
  type    = string
  default = "debug"
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
  executor "slurm" {
    partition = var.partition
    time      = "10"
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
