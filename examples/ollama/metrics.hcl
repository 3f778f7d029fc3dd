# Metrics that need no network and no GPU.

# Per-character perplexity of each response given its prompt, under a
# Kneser-Ney character model of a reference corpus in the cell's language
# (lower is better; the score uses -log(1 + PPL)).
metric "perplexity" {
  plugin    = "perplexity"
  direction = "lower"
  config {
    backend   = "offline"
    reference = "${var.data}/reference/{lang}.txt"
    order     = 5
  }
}

# How much each response is about its prompt (hashed character n-gram
# cosine); low values flag off-topic or boilerplate answers.
metric "relevance" {
  plugin = "relevance"
}

# Prompt and response diversity (1 - mean pairwise cosine similarity) over
# hashed character n-gram embeddings; the values diversity.prompt and
# diversity.response both count in the score.
metric "diversity" {
  plugin = "diversity"
  config {
    embedder = "hash"
  }
}

# Share of exact and near-duplicate examples, within the cell and against
# the seed data (lower is better): catches a teacher that copies its
# in-context examples.
metric "duplicates" {
  plugin = "duplicates"
}

# Token counts of prompts and responses: reported, not scored.
metric "length" {
  plugin   = "length"
  in_score = false
}
