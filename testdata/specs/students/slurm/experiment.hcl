# Students through the whole engine on a real Slurm cluster (.ci/slurm-up.sh):
# student "on_slurm" runs its jobs through sbatch, student "on_local" as
# local processes, so the test also checks each job goes to its own
# student's executor. The test puts fake python/accelerate/lighteval first
# on PATH (core/command/students_test.go); sbatch exports that PATH.
experiment "students_slurm" {
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

variable "partition" {
  type    = string
  default = "debug"
}

variable "slurm_time" {
  type    = string
  default = "00:05:00"
}

variable "reference" {
  type        = string
  default     = ""
  description = "a published reference model for on_slurm; empty trains one on the human seeds"
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

student "on_slurm" {
  base_model = "allenai/Olmo-3-1025-7B"
  reference  = var.reference
  trainer    = "trl"
  hyperparameters = {
    method = "qlora"
    epochs = 1
  }
  executor "slurm" {
    partition = var.partition
    time      = var.slurm_time
    # The test cluster has no GPU gres; an explicit 0 overrides the
    # trainer's request for one GPU.
    gpus = 0
  }
  config {
    harness = "lighteval"
  }
}

student "on_local" {
  base_model = "allenai/Olmo-3-1025-7B"
  trainer    = "trl"
  hyperparameters = {
    method = "qlora"
    epochs = 1
  }
  executor "local" {}
  config {
    harness = "lighteval"
    gpus    = 2
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
