# The ten teachers. Open models run on vLLM servers (one per model, e.g.
#   vllm serve google/gemma-3-27b-it --port 8000 --tensor-parallel-size 2
# ); the endpoints are in var.vllm. Vendor models read their keys from the
# environment.
#
# Sampling follows each family's recommendation, as in the study (docs/method.md
# section 2): Gemma T=1.0, top-p 0.95, top-k 64; Llama T=0.6, top-p 0.9;
# Aya and Command T=0.3; every other model T=0.8, top-p 0.9. They are
# written out here so that the file documents the run.

variable "vllm" {
  type = map(string)
  default = {
    gemma3_27b      = "http://127.0.0.1:8000/v1"
    llama33_70b     = "http://127.0.0.1:8001/v1"
    llama31_8b      = "http://127.0.0.1:8002/v1"
    qwen25_72b      = "http://127.0.0.1:8003/v1"
    aya_expanse_32b = "http://127.0.0.1:8004/v1"
    mistral_small   = "http://127.0.0.1:8005/v1"
    m_prometheus    = "http://127.0.0.1:8006/v1"
  }
  description = "OpenAI-compatible endpoint of each locally served model"
}

locals {
  # A vLLM server batches many requests; vendor APIs are limited by tier.
  vllm_limits = { concurrency = 64, timeout = "600s" }
  max_tokens  = 4096
}

teacher "gemma3_27b" {
  plugin     = "openai"
  model      = "google/gemma-3-27b-it"
  family     = "gemma"
  parameters = 27e9
  sampling {
    temperature = 1.0
    top_p       = 0.95
    top_k       = 64
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = var.vllm.gemma3_27b
  }
}

teacher "llama33_70b" {
  plugin     = "openai"
  model      = "meta-llama/Llama-3.3-70B-Instruct"
  family     = "llama"
  parameters = 70e9
  sampling {
    temperature = 0.6
    top_p       = 0.9
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = var.vllm.llama33_70b
  }
}

teacher "llama31_8b" {
  plugin     = "openai"
  model      = "meta-llama/Llama-3.1-8B-Instruct"
  family     = "llama"
  parameters = 8e9
  sampling {
    temperature = 0.6
    top_p       = 0.9
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = var.vllm.llama31_8b
  }
}

teacher "qwen25_72b" {
  plugin     = "openai"
  model      = "Qwen/Qwen2.5-72B-Instruct"
  family     = "qwen"
  parameters = 72e9
  sampling {
    temperature = 0.8
    top_p       = 0.9
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = var.vllm.qwen25_72b
  }
}

teacher "aya_expanse_32b" {
  plugin     = "openai"
  model      = "CohereLabs/aya-expanse-32b"
  family     = "aya"
  parameters = 32e9
  sampling {
    temperature = 0.3
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = var.vllm.aya_expanse_32b
  }
}

teacher "mistral_small" {
  plugin     = "openai"
  model      = "mistralai/Mistral-Small-3.1-24B-Instruct-2503"
  family     = "mistral"
  parameters = 24e9
  sampling {
    temperature = 0.8
    top_p       = 0.9
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = var.vllm.mistral_small
  }
}

teacher "command_a" {
  plugin     = "cohere"
  model      = "command-a-03-2025"
  family     = "command"
  parameters = 111e9
  price {
    input_per_mtok  = 2.50
    output_per_mtok = 10.00
  }
  sampling {
    temperature = 0.3
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency         = 16
    requests_per_minute = 1000
    budget_usd          = 1800
    adaptive            = true
  }
  config {
    api_key = env("COHERE_API_KEY")
  }
}

teacher "gpt4o" {
  plugin = "openai"
  model  = "gpt-4o-2024-08-06"
  family = "gpt"
  price {
    input_per_mtok  = 2.50
    output_per_mtok = 10.00
  }
  sampling {
    temperature = 0.8
    top_p       = 0.9
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency         = 32
    requests_per_minute = 5000
    tokens_per_minute   = 2000000
    budget_usd          = 1800
    adaptive            = true
  }
  config {
    api_key = env("OPENAI_API_KEY")
  }
}

teacher "claude" {
  plugin = "anthropic"
  model  = "claude-sonnet-4-20250514"
  family = "claude"
  price {
    input_per_mtok  = 3.00
    output_per_mtok = 15.00
  }
  sampling {
    temperature = 0.8
    top_p       = 0.9
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency         = 16
    requests_per_minute = 2000
    tokens_per_minute   = 400000
    budget_usd          = 2600
    adaptive            = true
  }
  config {
    api_key = env("ANTHROPIC_API_KEY")
  }
}

teacher "gemini" {
  plugin = "gemini"
  model  = "gemini-2.5-flash"
  family = "gemini"
  # Output tokens include thinking tokens.
  price {
    input_per_mtok  = 0.30
    output_per_mtok = 2.50
  }
  sampling {
    temperature = 0.8
    top_p       = 0.9
    max_tokens  = 8192
  }
  limits {
    concurrency         = 32
    requests_per_minute = 2000
    tokens_per_minute   = 3000000
    budget_usd          = 500
    adaptive            = true
  }
  config {
    api_key = env("GEMINI_API_KEY")
  }
}

# The study's judge, M-Prometheus 14B. The judge metric calls it as a teacher
# of the experiment; generate = false keeps it from generating data of its
# own and out of the ranking.
teacher "m_prometheus" {
  generate   = false
  plugin     = "openai"
  model      = "Unbabel/M-Prometheus-14B"
  family     = "qwen"
  parameters = 14e9
  sampling {
    temperature = 0.8
    top_p       = 0.9
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = var.vllm.m_prometheus
  }
}
