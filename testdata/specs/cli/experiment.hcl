# Used by the command-line tests (core/command/cli_test.go): the store has
# no default, so a command that drops `-var store=...` fails, and every
# flag given after DIR is seen to take effect.
experiment "cli" {
  allow_read = ["../../../examples/plugin-teacher-echo/example/data"] # files this spec reads outside its folder

  languages         = ["de", "es"]
  examples_per_cell = 3
  metric_sample     = 3
  store             = var.store
}

variable "store" {
  type        = string
  description = "where the run keeps its results; no default on purpose"
}

variable "root" {
  type    = string
  default = "../../.."
}

seeds "human" {
  path = "${var.root}/examples/plugin-teacher-echo/example/data/seeds.jsonl"
}

teacher "a" {
  plugin = "echo"
  model  = "echo-a"
}

teacher "b" {
  plugin = "echo"
  model  = "echo-b"
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
