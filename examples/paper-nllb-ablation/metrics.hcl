# The study's intrinsic metrics (docs/method.md, section 3), on a 10,000-
# example sample of each cell stratified by strategy.

# Perplexity of each response given its prompt (prompt tokens are context,
# never scored) under the study's reference base model, Gemma 3 4B PT,
# served by vLLM (server gemma3_4b_pt in servers.hcl).
# Per-example perplexity, then the mean over the cell's examples. (The
# study's code gave every item of a batch the batch's mean loss; per-example
# is the correct form and the one used here.) Lower is better; the score uses
# -log(1 + PPL), the PCA the raw value.
metric "perplexity" {
  plugin    = "perplexity"
  direction = "lower"
  config {
    backend     = "endpoint"
    base_url    = server.gemma3_4b_pt.url
    model       = "google/gemma-3-4b-pt"
    batch       = 16
    concurrency = 8
  }
}

# The judge: M-Prometheus 14B grades every sampled example with one score
# from 1 to 5 and written feedback, under a rubric that weighs language
# proficiency, cultural nuance and helpfulness together (our wording, in
# templates/judge_rubric.txt). An answer that does not parse counts as 1,
# as in the study; on_parse_failure = "drop" leaves such answers out instead.
# The cell value is the mean score.
metric "judge" {
  plugin = "judge"
  config {
    teacher          = "m_prometheus"
    rubric           = file("templates/judge_rubric.txt")
    criteria         = ["score"]
    on_parse_failure = var.judge_on_parse_failure
    max_tokens       = 1024
  }
}

# Prompt diversity d_x and response diversity d_y: 1 - mean off-diagonal
# cosine similarity of embeddings from the study's embedder,
# nvidia/llama-embed-nemotron-8b, served by vLLM as an OpenAI-compatible
# /embeddings endpoint (server nemotron_embed in servers.hcl).
# Both values, diversity.prompt and diversity.response, are in the score.
metric "diversity" {
  plugin = "diversity"
  config {
    embedder   = "endpoint"
    base_url   = server.nemotron_embed.url
    model      = "nvidia/llama-embed-nemotron-8b"
    batch_size = 64
  }
}

# Mean prompt and response length in tokens: used in the analyses (PCA,
# regression), not in the score.
metric "length" {
  plugin   = "length"
  in_score = false
}

variable "judge_on_parse_failure" {
  type        = string
  default     = "score_as_1"
  description = "what an unparsable judge answer counts as: score_as_1 (the study) or drop"
}
