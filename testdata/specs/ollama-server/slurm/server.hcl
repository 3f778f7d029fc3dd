# The same server as ../server.hcl, as a job on Slurm; the test puts this
# file in place of that one.
server "tiny" {
  engine   = "ollama"
  model    = "polyglot-tiny"
  command  = [var.ollama_bin]
  env      = { OLLAMA_MODELS = var.models, HOME = var.home, OLLAMA_NO_CLOUD = "1", OLLAMA_NOPRUNE = "1" }
  restarts = 3
  ready {
    timeout  = "120s"
    interval = "200ms"
  }
  executor "slurm" {
    partition = var.partition
    time      = "00:20:00"
    cpus      = 1
  }
}

variable "partition" {
  type    = string
  default = "debug"
}
