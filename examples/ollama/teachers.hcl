# Three local models, each served by Ollama and reached through the openai
# plugin (Ollama speaks the OpenAI chat completions API; it wants no key).
# The sampling blocks spell out each family's recommended decoding
# (docs/method.md section 2); leaving them out gives the same values, because
# polyglot picks them from `family`.

locals {
  # Ollama runs OLLAMA_NUM_PARALLEL requests per model (default 1 to 4,
  # depending on memory); more in flight only queue up.
  local_limits = {
    concurrency = 2
    timeout     = "600s"
  }
}

teacher "gemma3" {
  plugin     = "openai"
  model      = var.models.gemma3
  family     = "gemma"
  parameters = 12e9

  sampling {
    temperature = 1.0
    top_p       = 0.95
    top_k       = 64
    max_tokens  = 2048
  }
  limits {
    concurrency = local.local_limits.concurrency
    timeout     = local.local_limits.timeout
    max_retries = 2
  }
  config {
    base_url = local.ollama_url
  }
}

teacher "llama31" {
  plugin     = "openai"
  model      = var.models.llama31
  family     = "llama"
  parameters = 8e9

  sampling {
    temperature = 0.6
    top_p       = 0.9
    max_tokens  = 2048
  }
  limits {
    concurrency = local.local_limits.concurrency
    timeout     = local.local_limits.timeout
    max_retries = 2
  }
  config {
    base_url = local.ollama_url
  }
}

teacher "aya" {
  plugin     = "openai"
  model      = var.models.aya
  family     = "aya"
  parameters = 8e9

  sampling {
    temperature = 0.3
    max_tokens  = 2048
  }
  limits {
    concurrency = local.local_limits.concurrency
    timeout     = local.local_limits.timeout
    max_retries = 2
  }
  config {
    base_url = local.ollama_url
  }
}
