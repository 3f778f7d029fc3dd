# Used by the re-plan test: changing teacher "a"'s temperature must change
# exactly a's units and what depends on them.
experiment "replan" {
  allow_read = ["../../../examples/plugin-teacher-echo/example/data"] # files this spec reads outside its folder

  languages         = ["de", "es"]
  examples_per_cell = 4
  metric_sample     = 4
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "root" {
  type        = string
  default     = "../../.."
  description = "the repository root, where the example data lives"
}

variable "temperature_a" {
  type    = number
  default = 0.7
}

seeds "human" {
  path = "${var.root}/examples/plugin-teacher-echo/example/data/seeds.jsonl"
}

teacher "a" {
  plugin = "echo"
  model  = "echo-a"
  sampling {
    temperature = var.temperature_a
  }
}

teacher "b" {
  plugin = "echo"
  model  = "echo-b"
  sampling {
    temperature = 0.7
  }
}

strategy "respond" {
  step "answer" {
    template = "templates/respond.txt"
  }
}

metric "relevance" {
  plugin = "relevance"
}

student "ngram" {
  base_model = "kneser-ney"
  trainer    = "cpu"
  config {
    base_corpus = "${var.root}/examples/quickstart/data/reference/{lang}.txt"
  }
}

benchmark "heldout" {
  task = "${var.root}/examples/quickstart/data/heldout/{lang}.txt"
}
