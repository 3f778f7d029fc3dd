# Intrinsic metrics (docs/method.md section 3).

# Perplexity of each response given its prompt under the study's reference
# base model, Gemma 3 4B PT, served by vLLM:
#   vllm serve google/gemma-3-4b-pt --port 8010
# Lower is better; the score uses -log(1 + PPL).
metric "perplexity" {
  plugin    = "perplexity"
  direction = "lower"
  config {
    backend     = "endpoint"
    base_url    = var.perplexity_url
    model       = "google/gemma-3-4b-pt"
    batch       = 16
    concurrency = 8
  }
}

# LM judge: M-Prometheus 14B grades every sampled example 1-5 on language
# proficiency, cultural fit and helpfulness, with a rationale, as structured
# output. The study scored unparsable verdicts as 1.
metric "judge" {
  plugin = "judge"
  config {
    teacher          = "m_prometheus"
    on_parse_failure = "score_as_1"
  }
}

# Prompt diversity d_x and response diversity d_y: 1 - mean pairwise cosine
# similarity of embeddings (exact, O(n*d); the study built the n x n
# matrix). The study does not say which embedding model it used; this is a
# multilingual one, served with
#   vllm serve BAAI/bge-m3 --task embed --port 8011
# Both values, diversity.prompt and diversity.response, are in the score.
metric "diversity" {
  plugin = "diversity"
  config {
    embedder   = "endpoint"
    base_url   = var.embeddings_url
    model      = "BAAI/bge-m3"
    batch_size = 64
  }
}

# Mean prompt and response length in tokens: used in the analyses (PCA,
# regression), not in the score.
metric "length" {
  plugin   = "length"
  in_score = false
}

variable "embeddings_url" {
  type        = string
  default     = "http://127.0.0.1:8011/v1"
  description = "OpenAI-compatible /embeddings endpoint for the diversity metric"
}

variable "perplexity_url" {
  type        = string
  default     = "http://127.0.0.1:8010/v1"
  description = "vLLM completions endpoint serving the perplexity reference model"
}
