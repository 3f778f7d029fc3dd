# Uses every block and feature: variables, locals, references between blocks,
# functions, env(), file(). The test sets POLYGLOT_TEST_KEY and -var values.
experiment "full" {
  languages         = var.languages
  seeds             = [for s in range(3) : s + 1]
  store             = "${local.prefix}-store"
  examples_per_cell = 300
  metric_sample     = local.sample
  budget_usd        = 100
}

variable "languages" {
  type        = list(string)
  default     = ["ar", "de"]
  description = "target languages"
}

variable "api_key" {
  type      = string
  sensitive = true
}

variable "temperature" {
  type    = number
  default = 0.8
}

locals {
  prefix = lower("RUN")
  sample = 100 * 2
  family = teacher.aya.family
}

locals {
  rubric = trimspace(file("templates/rubric.txt"))
}

required_plugins {
  openai = { source = "github.com/acme/polyglot-plugin-openai", version = ">= 0.1.0, < 2.0" }
  echo   = { source = "./plugins/echo" }
}
