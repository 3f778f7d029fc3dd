# Students through the whole engine on the local executor: the trl trainer
# renders real jobs, and the test puts fake python/accelerate/lighteval
# first on PATH (core/command/students_test.go).
experiment "students_local" {
  allow_read = ["../../../../examples/plugin-teacher-echo/example/data", "../templates"] # files this spec reads outside its folder

  languages         = ["de"]
  examples_per_cell = 3
  metric_sample     = 3
  store             = var.store
}

variable "store" {
  type    = string
  default = ".polyglot"
}

variable "root" {
  type        = string
  default     = "../../../.."
  description = "the repository root, where the example seeds live"
}

variable "time_limit" {
  type        = string
  default     = "00:05:00"
  description = "the trainer's job time limit (the local executor enforces it)"
}

seeds "human" {
  path = "${var.root}/examples/plugin-teacher-echo/example/data/seeds.jsonl"
}

teacher "echo" {
  plugin = "echo"
  model  = "echo-a"
}

strategy "respond" {
  step "answer" {
    template = "../templates/respond.txt"
  }
}

metric "relevance" {
  plugin = "relevance"
}

student "olmo" {
  base_model = "allenai/Olmo-3-1025-7B"
  trainer    = "trl"
  hyperparameters = {
    method = "qlora"
    epochs = 1
  }
  executor "local" {}
  config {
    harness    = "lighteval"
    # Two GPUs render `accelerate launch` instead of `python`.
    gpus       = 2
    time_limit = var.time_limit
    # The test puts a fake nvidia-smi on PATH that lists two GPUs.
    require_local_gpu = true
  }
}

# The study's benchmarks: the trl trainer runs its shipped task file.
benchmark "global_mmlu_lite" {
  metric = "acc"
}

benchmark "mgsm" {
  shots  = 5
  metric = "extractive_match"
}
