# A judge metric's calls in the plan (core/command plan tests): teacher
# "gpt" generates 6 examples in German, and the judge metric asks the
# helper teacher "grader" about a sample of 4 of them. Nothing is sent:
# the tests only plan and validate.
experiment "judge-plan" {
  languages         = ["de"]
  examples_per_cell = 6
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

seeds "german" {
  path     = "data/seeds.jsonl"
  language = "de"
}

teacher "gpt" {
  plugin = "openai"
  model  = "gpt-fake-1"
  price {
    input_per_mtok  = 2.5
    output_per_mtok = 10
  }
  sampling {
    max_tokens = 256
  }
  config {
    base_url = "http://127.0.0.1:9/v1"
    api_key  = "sk-plan-only"
  }
}

teacher "grader" {
  plugin   = "openai"
  model    = "grader-fake-1"
  generate = false
  price {
    input_per_mtok  = 5
    output_per_mtok = 15
  }
  config {
    base_url = "http://127.0.0.1:9/v1"
    api_key  = "sk-plan-only"
  }
}

strategy "respond" {
  step "answer" {
    template = "templates/respond.txt"
  }
}

metric "judge" {
  plugin = "judge"
  sample = 4
  config {
    teacher = "grader"
  }
}
