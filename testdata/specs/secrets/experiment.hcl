# Used by core/command/secrets_test.go: one OpenAI-compatible teacher whose
# key comes from env(), with extra headers from env() and from sensitive
# variables passed with -var. The test's server echoes all of them back,
# in every encoding, in error bodies and in answers; none may reach the
# store, the logs, an export or the report.
experiment "secrets" {
  languages         = ["de"]
  examples_per_cell = var.examples
  store             = var.store
}

variable "store" {
  type = string
}

variable "examples" {
  type    = number
  default = 40
}

variable "seeds" {
  type = string
}

variable "base_url" {
  type = string
}

variable "token" {
  type      = string
  sensitive = true
}

# Too short to search for in text: only where it is known to be a
# secret (the recorded command line) can it be redacted.
variable "pin" {
  type      = string
  sensitive = true
}

seeds "prompts" {
  path = var.seeds
}

teacher "local" {
  plugin = "openai"
  model  = "secrets-1"
  config {
    base_url = var.base_url
    api_key  = env("POLYGLOT_TEST_API_KEY")
    headers = {
      "X-Org-Token"   = var.token
      "X-Team-Secret" = env("POLYGLOT_TEST_HEADER_SECRET")
      "X-Pin"         = var.pin
    }
  }
  limits {
    # One call at a time: the test's server rejects every third call, and
    # three 401s in a row (possible when calls finish out of order) would
    # stop the teacher before the answers that leak are stored.
    concurrency = 1
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

# The report needs a score; duplicates is cheap and always available.
metric "duplicates" {
  plugin = "duplicates"
}
