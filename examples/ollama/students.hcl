# The embedded CPU student: a character-level Kneser-Ney model. Its base is
# built from the reference corpus of each language; the reference (the
# "strong SFT" of the Performance Gap Recovered) is that base trained on the
# human-written seed data. It finishes in seconds per cell, so the whole
# pipeline, extrinsic part included, runs on a laptop.
student "kn" {
  base_model = "kn-char-5"
  family     = "kn"
  trainer    = "cpu"
  config {
    base_corpus = "${var.data}/reference/{lang}.txt"
    order       = 5
  }
}

# Multiple-choice questions: the option with the highest likelihood under
# the student is its answer (accuracy).
benchmark "mc" {
  task = "${var.data}/mc/{lang}.jsonl"
}

# Held-out native text: negative bits per character (higher is better).
benchmark "heldout" {
  task   = "${var.data}/heldout/{lang}.txt"
  metric = "neg_bpc"
}

# The paper's defaults, written out.
score {
  alpha       = 0.5
  pgr         = "ratio_then_mean"
  standardize = "published"
}
