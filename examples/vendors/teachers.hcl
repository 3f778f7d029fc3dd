# Prices are USD per million tokens as listed by each vendor when this file
# was written; check them before a large run, since cost estimates and budgets
# use them. Rate limits depend on your account's tier: set
# requests_per_minute and tokens_per_minute to yours. The host keeps under
# them, retries 429 and 5xx answers with backoff (honouring Retry-After),
# and stops a teacher at its budget_usd.
#
# Keys are read with env(): the values are sensitive, so they never show up
# in logs, plans or the store. A missing key is an error at validate time.

teacher "gpt4o" {
  plugin = "openai"
  model  = "gpt-4o-2024-08-06"
  family = "gpt"

  price {
    input_per_mtok  = 2.50
    output_per_mtok = 10.00
  }
  sampling {
    max_tokens = 2048
  }
  limits {
    concurrency         = 16
    requests_per_minute = 5000
    tokens_per_minute   = 450000
    budget_usd          = 20
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
    max_tokens = 2048
  }
  limits {
    concurrency         = 8
    requests_per_minute = 1000
    tokens_per_minute   = 80000
    budget_usd          = 20
    adaptive            = true
  }
  config {
    api_key = env("ANTHROPIC_API_KEY")
    # The default sampling sets both temperature and top_p; newer Claude
    # models accept only one of them.
    omit_top_p = true
  }
}

teacher "gemini" {
  plugin = "gemini"
  model  = "gemini-2.5-flash"
  family = "gemini"

  # Output tokens include the model's thinking tokens.
  price {
    input_per_mtok  = 0.30
    output_per_mtok = 2.50
  }
  sampling {
    max_tokens = 4096
  }
  limits {
    concurrency         = 16
    requests_per_minute = 1000
    tokens_per_minute   = 1000000
    budget_usd          = 10
    adaptive            = true
  }
  config {
    api_key = env("GEMINI_API_KEY")
  }
}

teacher "command_a" {
  plugin     = "cohere"
  model      = "command-a-03-2025"
  family     = "command" # T = 0.3, the family's recommendation
  parameters = 111e9

  price {
    input_per_mtok  = 2.50
    output_per_mtok = 10.00
  }
  sampling {
    max_tokens = 2048
  }
  limits {
    concurrency         = 8
    requests_per_minute = 500
    budget_usd          = 10
    adaptive            = true
  }
  config {
    api_key = env("COHERE_API_KEY")
  }
}

# An open model on your own GPU, served with
#   vllm serve google/gemma-3-27b-it --port 8000
# It costs nothing per token, so it has no price and no budget; concurrency
# is what the server batches well.
teacher "gemma3_27b" {
  plugin     = "openai"
  model      = "google/gemma-3-27b-it"
  family     = "gemma" # T = 1.0, top-p 0.95, top-k 64
  parameters = 27e9

  sampling {
    max_tokens = 2048
  }
  limits {
    concurrency = 32
    timeout     = "300s"
  }
  config {
    base_url = var.vllm_url
    # vLLM accepts a key only when started with --api-key.
    api_key = env("VLLM_API_KEY", "")
  }
}
