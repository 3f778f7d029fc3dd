# Uses the echo plugin built from ../main.go. Install it first:
#   go build -o polyglot-plugin-echo ./examples/plugin-teacher-echo
#   polyglot plugins install --path ./polyglot-plugin-echo
experiment "echo-demo" {
  languages         = ["de", "es"]
  examples_per_cell = 6
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

required_plugins {
  echo = { source = "github.com/polyglot-teachers/polyglot/examples/plugin-teacher-echo", version = ">= 0.1.0" }
}

seeds "native" {
  path = "data/seeds.jsonl"
}

teacher "shouty" {
  plugin = "echo"
  model  = "echo-1"
  config {
    prefix    = "ECHO: "
    uppercase = true
  }
}

strategy "respond" {
  input {
    seeds = seeds.native
  }
  step "answer" {
    template = "templates/respond.txt"
  }
  emit {
    prompt   = "seed.prompt"
    response = "steps.answer.text"
  }
}
