# Batch mode with a two-step strategy (plugins/teachers/e2e/
# batch_multistep_test.go): "draft" asks for a JSON task and answer, built
# from the seed; "polish" improves the draft's answer. Both steps call the
# cell's own teacher, so a batch teacher runs them as a batch per step and
# chunk. The polish template holds only the draft's answer, never the seed
# prompt, so a fault directive in a seed reaches only the draft step.
# provider chooses the batch teacher's plugin, model and url ("openai":
# the fake's OpenAI Batch endpoint, "anthropic": its Message Batches
# endpoint), so one spec serves the tests of both. batch = false runs the
# same spec on the streaming path; polish_teacher = "claude" makes the
# second step call another teacher, which batch mode refuses.
experiment "batch-multistep" {
  allow_read = ["../templates"] # files this spec reads outside its folder

  languages         = ["de"]
  examples_per_cell = var.examples_per_cell
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "seeds" {
  type        = string
  description = "German seed rows (the test writes them)"
}

variable "examples_per_cell" {
  type    = number
  default = 4
}

variable "openai_url" {
  type    = string
  default = "http://127.0.0.1:9/v1"
}

variable "anthropic_url" {
  type    = string
  default = "http://127.0.0.1:9"
}

variable "provider" {
  type        = string
  default     = "openai"
  description = "plugin of teacher \"batcher\": openai or anthropic"
}

variable "batch" {
  type    = bool
  default = true
}

variable "batch_max_requests" {
  type    = number
  default = 10000
}

variable "concurrency" {
  type    = number
  default = 4
}

variable "reasks" {
  type    = number
  default = 0
}

variable "budget_usd" {
  type    = number
  default = 1000
}

variable "polish_teacher" {
  type    = string
  default = "self"
}

seeds "native" {
  path     = var.seeds
  language = "de"
}

teacher "batcher" {
  plugin             = var.provider
  model              = var.provider == "anthropic" ? "claude-fake-1" : "gpt-fake-1"
  batch              = var.batch
  batch_max_requests = var.batch_max_requests
  price {
    input_per_mtok  = 2.5
    output_per_mtok = 10
  }
  limits {
    concurrency = var.concurrency
    timeout     = "5s"
    reasks      = var.reasks
    budget_usd  = var.budget_usd
  }
  config {
    base_url = var.provider == "anthropic" ? var.anthropic_url : var.openai_url
    api_key  = env("POLYGLOT_E2E_KEY")
  }
}

# Only a target for polish_teacher; the tests run the batcher cells alone.
teacher "claude" {
  plugin = "anthropic"
  model  = "claude-fake-1"
  config {
    base_url = var.anthropic_url
    api_key  = env("POLYGLOT_E2E_KEY")
  }
}

strategy "draft-then-polish" {
  step "draft" {
    system     = "../templates/system.txt"
    template   = "draft.txt"
    output     = "json"
    schema     = { prompt = "string", response = "string" }
    max_tokens = 256
  }
  step "polish" {
    teacher    = var.polish_teacher
    template   = "polish.txt"
    max_tokens = 256
  }
  emit {
    prompt   = "steps.draft.prompt"
    response = "steps.polish.text"
  }
}
