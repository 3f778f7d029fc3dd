# The study's ten teachers: the same checkpoints, parameter counts, families
# and per-teacher sampling (temperature / top-p / top-k). Eight are open
# models served by vLLM, two are vendor APIs (GPT-4o mini, Command A).
#
# Serving the open models: each is a vLLM server polyglot runs on Slurm
# (servers.hcl); a teacher reaches its own as server.NAME.url.
#
# Sampling. The study's model table gives each family its recommended
# sampling (below, the default). Its generation job, however, sent
# temperature 0.8 and top-p 0.9 to every teacher; -var uniform_sampling=true
# does that instead.

variable "uniform_sampling" {
  type        = bool
  default     = false
  description = "true: every teacher samples at temperature 0.8, top-p 0.9, as the study's generation job did; false: each family's recommended sampling, as its model table lists"
}

locals {
  # A vLLM server batches many requests; vendor APIs are limited by tier.
  vllm_limits = { concurrency = 64, timeout = "600s" }

  # Answer length of a call, and the seed-prompt cut: prompts longer than
  # the study's 4,096-token server context less 500 tokens are dropped.
  # polyglot drops a prompt when it exceeds context_tokens - max_tokens.
  max_tokens        = 4096
  max_prompt_tokens = 4096 - 500
  context_tokens    = local.max_prompt_tokens + local.max_tokens

  # Per-family sampling (temperature, top_p, top_k); null leaves it unset.
  sampling = var.uniform_sampling ? {
    gpt     = { t = 0.8, p = 0.9, k = null }
    llama   = { t = 0.8, p = 0.9, k = null }
    cohere  = { t = 0.8, p = 0.9, k = null }
    gemma   = { t = 0.8, p = 0.9, k = null }
    granite = { t = 0.8, p = 0.9, k = null }
    } : {
    gpt     = { t = 0.8, p = 0.9, k = null }
    llama   = { t = 0.6, p = 0.9, k = null }
    cohere  = { t = 0.3, p = null, k = null }
    gemma   = { t = 1.0, p = 0.95, k = 64 }
    granite = { t = 0.0, p = null, k = null }
  }
}

teacher "gpt4o_mini" {
  plugin         = "openai"
  model          = "gpt-4o-mini-2024-07-18"
  family         = "gpt"
  context_tokens = local.context_tokens
  price {
    input_per_mtok  = 0.15
    output_per_mtok = 0.60
  }
  sampling {
    temperature = local.sampling.gpt.t
    top_p       = local.sampling.gpt.p
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency         = 32
    requests_per_minute = 5000
    tokens_per_minute   = 2000000
    budget_usd          = 300
    adaptive            = true
  }
  config {
    api_key = env("OPENAI_API_KEY")
  }
}

teacher "llama31_70b" {
  plugin         = "openai"
  model          = "meta-llama/Llama-3.1-70B-Instruct"
  family         = "llama"
  parameters     = 70e9
  context_tokens = local.context_tokens
  sampling {
    temperature = local.sampling.llama.t
    top_p       = local.sampling.llama.p
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = server.llama31_70b.url
  }
}

teacher "llama31_8b" {
  plugin         = "openai"
  model          = "meta-llama/Llama-3.1-8B-Instruct"
  family         = "llama"
  parameters     = 8e9
  context_tokens = local.context_tokens
  sampling {
    temperature = local.sampling.llama.t
    top_p       = local.sampling.llama.p
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = server.llama31_8b.url
  }
}

# Command A: 104B in the paper's table (111B in the code's metadata).
teacher "command_a" {
  plugin         = "cohere"
  model          = "command-a-03-2025"
  family         = "cohere"
  parameters     = 104e9
  context_tokens = local.context_tokens
  price {
    input_per_mtok  = 2.50
    output_per_mtok = 10.00
  }
  sampling {
    temperature = local.sampling.cohere.t
    top_p       = local.sampling.cohere.p
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency         = 16
    requests_per_minute = 1000
    budget_usd          = 2500
    adaptive            = true
  }
  config {
    api_key = env("COHERE_API_KEY")
  }
}

teacher "aya_expanse_32b" {
  plugin         = "openai"
  model          = "CohereLabs/aya-expanse-32b"
  family         = "cohere"
  parameters     = 32e9
  context_tokens = local.context_tokens
  sampling {
    temperature = local.sampling.cohere.t
    top_p       = local.sampling.cohere.p
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = server.aya_expanse_32b.url
  }
}

teacher "gemma3_27b" {
  plugin         = "openai"
  model          = "google/gemma-3-27b-it"
  family         = "gemma"
  parameters     = 27e9
  context_tokens = local.context_tokens
  sampling {
    temperature = local.sampling.gemma.t
    top_p       = local.sampling.gemma.p
    top_k       = local.sampling.gemma.k
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = server.gemma3_27b.url
  }
}

teacher "gemma3_12b" {
  plugin         = "openai"
  model          = "google/gemma-3-12b-it"
  family         = "gemma"
  parameters     = 12e9
  context_tokens = local.context_tokens
  sampling {
    temperature = local.sampling.gemma.t
    top_p       = local.sampling.gemma.p
    top_k       = local.sampling.gemma.k
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = server.gemma3_12b.url
  }
}

teacher "gemma3_4b" {
  plugin         = "openai"
  model          = "google/gemma-3-4b-it"
  family         = "gemma"
  parameters     = 4e9
  context_tokens = local.context_tokens
  sampling {
    temperature = local.sampling.gemma.t
    top_p       = local.sampling.gemma.p
    top_k       = local.sampling.gemma.k
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = server.gemma3_4b.url
  }
}

# "Granite 4.0": the code's checkpoint is granite-4.0-1b (1B, as its name
# says); the paper's table lists 3B.
teacher "granite4_1b" {
  plugin         = "openai"
  model          = "ibm-granite/granite-4.0-1b"
  family         = "granite"
  parameters     = 1e9
  context_tokens = local.context_tokens
  sampling {
    temperature = local.sampling.granite.t
    top_p       = local.sampling.granite.p
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = server.granite4_1b.url
  }
}

# "Granite Micro": granite-4.0-micro, 3B in the code's metadata (the
# paper's table lists 0.4B).
teacher "granite4_micro" {
  plugin         = "openai"
  model          = "ibm-granite/granite-4.0-micro"
  family         = "granite"
  parameters     = 3e9
  context_tokens = local.context_tokens
  sampling {
    temperature = local.sampling.granite.t
    top_p       = local.sampling.granite.p
    max_tokens  = local.max_tokens
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = server.granite4_micro.url
  }
}

# The study's judge, M-Prometheus 14B. The judge metric calls it as a teacher
# of the experiment; generate = false keeps it from generating data of its
# own and out of the ranking. Greedy decoding: the study does not give the
# judge's sampling, and a grade should not depend on a draw.
teacher "m_prometheus" {
  generate   = false
  plugin     = "openai"
  model      = "Unbabel/M-Prometheus-14B"
  family     = "qwen"
  parameters = 14e9
  sampling {
    temperature = 0
    max_tokens  = 1024
  }
  limits {
    concurrency = local.vllm_limits.concurrency
    timeout     = local.vllm_limits.timeout
  }
  config {
    base_url = server.m_prometheus.url
  }
}
