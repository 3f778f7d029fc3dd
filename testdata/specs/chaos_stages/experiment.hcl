# Used by the stage chaos test (core/command/chaos_stages_test.go): the
# offline quickstart (examples/quickstart) cut down to three languages and
# fewer examples, so that one uninterrupted run takes seconds. The test
# SIGKILLs `polyglot run` inside the metrics, train, evaluate and score
# stages and checks that the resumed store ends up equal to an
# uninterrupted one. Data and templates are the quickstart's own.
experiment "chaos-stages" {
  languages         = var.languages
  examples_per_cell = var.examples
  metric_sample     = var.examples
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "languages" {
  type    = list(string)
  default = ["de", "es", "ja"]
}

variable "examples" {
  type        = number
  default     = 60
  description = "examples per cell (the quickstart has 100)"
}

variable "bootstrap" {
  type        = number
  default     = 10000
  description = "bootstrap resamples: more than the quickstart's 200 so that the score stage lasts long enough to be killed in"
}

seeds "human" {
  path = "../../../examples/quickstart/data/seeds/*.jsonl"
  columns {
    tags = "task_family"
  }
}

teacher "human" {
  plugin = "dataset"
  model  = "human-written"
  family = "human"
  config {
    path = "../../../examples/quickstart/data/seeds/*.jsonl"
  }
}

strategy "respond" {
  input {
    seeds = seeds.human
  }
  step "answer" {
    system   = "../../../examples/quickstart/templates/system.txt"
    template = "../../../examples/quickstart/templates/respond.txt"
  }
  emit {
    prompt   = "seed.prompt"
    response = "steps.answer.text"
  }
}

control "wrong-prompts" {
  kind      = "repair_prompts"
  seeds     = seeds.human
  caught_by = ["relevance"]
}

control "scrambled" {
  kind      = "scramble_words"
  seeds     = seeds.human
  caught_by = ["perplexity"]
}

control "truncated" {
  kind      = "truncate"
  seeds     = seeds.human
  caught_by = ["length.response_tokens"]
}

control "wrong-language" {
  kind      = "swap_language"
  seeds     = seeds.human
  caught_by = ["langid"]
}

control "near-copies" {
  kind      = "near_copies"
  seeds     = seeds.human
  caught_by = ["duplicates", "diversity.response"]
}

metric "perplexity" {
  plugin = "perplexity"
  config {
    reference = "../../../examples/quickstart/data/reference/{lang}.txt"
  }
}

metric "diversity" {
  plugin = "diversity"
}

metric "relevance" {
  plugin = "relevance"
}

metric "langid" {
  plugin = "langid"
}

metric "duplicates" {
  plugin = "duplicates"
}

metric "length" {
  plugin    = "length"
  direction = "higher"
  in_score  = false
}

student "ngram" {
  base_model = "kneser-ney-5"
  family     = "ngram"
  trainer    = "cpu"
  config {
    base_corpus = "../../../examples/quickstart/data/reference/{lang}.txt"
  }
}

benchmark "heldout" {
  task = "../../../examples/quickstart/data/heldout/{lang}.txt"
}

score {
  alpha     = 0.5
  bootstrap = var.bootstrap
}
