# Batch mode with a two-step strategy: `polyglot run` must refuse it with a
# clear error (each step would need the previous step's answers).
experiment "batch-multistep" {
  languages         = ["de"]
  examples_per_cell = 2
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "openai_url" {
  type    = string
  default = "http://127.0.0.1:9/v1"
}

seeds "native" {
  path = "../data/seeds/*.jsonl"
}

teacher "gpt" {
  plugin = "openai"
  model  = "gpt-fake-1"
  batch  = true
  config {
    base_url = var.openai_url
    api_key  = env("POLYGLOT_E2E_KEY")
  }
}

strategy "draft-then-polish" {
  step "draft" {
    template = "../templates/respond.txt"
  }
  step "polish" {
    template = "polish.txt"
  }
  emit {
    prompt   = "seed.prompt"
    response = "steps.polish.text"
  }
}
