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
