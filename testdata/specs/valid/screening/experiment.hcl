# A screened experiment: every cell first generates 50 examples, then 200;
# after each stage a teacher whose interval lies below the best's in a
# language stops generating there. The full size is examples_per_cell.
experiment "screened" {
  languages         = ["de", "ja"]
  examples_per_cell = 1000
}

teacher "a" {
  plugin = "echo"
  model  = "a-1"
}

teacher "b" {
  plugin = "echo"
  model  = "b-1"
}

metric "judge" {
  plugin = "length"
}

screening {
  stages     = [50, 200]
  score      = "metrics"
  metrics    = ["judge"]
  scope      = "overall"
  min_keep   = 2
  confidence = 0.99
  enabled    = var.screen
}

variable "screen" {
  type    = bool
  default = true
}
