teacher "gpt4o" {
  plugin             = "openai/chat"
  model              = "gpt-4o"
  family             = "gpt"
  parameters         = 2e11
  benchmark_strength = 0.8
  batch              = true

  price {
    input_per_mtok  = 2.5
    output_per_mtok = 10
  }
  sampling {
    temperature = var.temperature
    top_p       = 0.9
    top_k       = 64
    max_tokens  = 2048
    seed        = 1
    stop        = ["\n\n"]
  }
  limits {
    concurrency         = 16
    requests_per_minute = 500
    tokens_per_minute   = 200000
    timeout             = "60s"
    max_retries         = 5
    budget_usd          = 20
    reasks              = 2
    adaptive            = true
  }
  config {
    api_key  = env("POLYGLOT_TEST_KEY")
    base_url = "http://127.0.0.1:9999/v1"
  }
}

teacher "aya" {
  plugin = "openai"
  model  = upper("aya-expanse-8b")
  family = "command"
  sampling {
    temperature = 0.3
  }
  config {
    api_key = var.api_key
  }
}

teacher "aya_copy" {
  plugin = teacher.aya.plugin
  model  = "${teacher.aya.model}-copy"
  family = local.family
  limits {
    timeout = format("%ds", 30)
  }
}

control "scrambled" {
  kind      = "scramble_words"
  seeds     = seeds.human
  caught_by = ["ppl"]
}

control "truncated" {
  kind      = "truncate"
  seeds     = "native"
  caught_by = ["ppl", "judge"]
  fraction  = 0.5
}
