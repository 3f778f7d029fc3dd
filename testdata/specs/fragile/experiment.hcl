# Used by core/command/plugincrash_test.go: every block is served by the
# fragile test plugin (core/command/testdata/fragile), which crashes, hangs
# or panics as its FRAGILE_MODE says.
experiment "fragile" {
  languages         = ["de", "es"]
  examples_per_cell = 4
  metric_sample     = 4
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

seeds "human" {
  path = "data/seeds.jsonl"
}

teacher "fragile" {
  plugin = "fragile"
  model  = "fragile-1"
  limits {
    concurrency = 4
  }
}

strategy "respond" {
  step "answer" {
    template = "templates/respond.txt"
  }
}

metric "size" {
  plugin = "fragile"
}

student "tiny" {
  base_model = "tiny-base"
  trainer    = "fragile"
}

benchmark "quiz" {
  task = "quiz"
}
