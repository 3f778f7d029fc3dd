# The LM judge grades every sampled (prompt, response) 1-5 on language
# proficiency, cultural fit and helpfulness. It calls the gpt4o teacher
# through the host, so that teacher's rate limits and budget cover the
# judge's calls too. A judge grading its own data may favour it; to avoid
# that, add a teacher block used only as judge and point `teacher` at it.
metric "judge" {
  plugin = "judge"
  # Judge calls cost money: grade a subset of each cell.
  sample = 100
  config {
    teacher          = "gpt4o"
    on_parse_failure = "drop"
  }
}

# Perplexity under a base model (the study used Gemma 3 4B PT), served with
#   vllm serve google/gemma-3-4b-pt --port 8001
metric "perplexity" {
  plugin    = "perplexity"
  direction = "lower"
  config {
    backend  = "endpoint"
    base_url = var.ppl_url
    model    = "google/gemma-3-4b-pt"
  }
}

metric "relevance" {
  plugin = "relevance"
}

# Prompt and response diversity over hashed character n-gram embeddings
# (offline); switch to embedder = "endpoint" for a neural embedding model.
metric "diversity" {
  plugin = "diversity"
}

# Token counts: reported, not scored.
metric "length" {
  plugin   = "length"
  in_score = false
}

# No student here: the ranking rests on the intrinsic metrics alone
# (alpha = 1). Add a student and benchmarks, as in examples/paper, for the
# extrinsic half.
score {
  alpha = 1
}
