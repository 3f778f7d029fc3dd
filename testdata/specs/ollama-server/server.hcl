# Ollama on this machine (slurm/server.hcl is the same server as a Slurm job).
server "tiny" {
  engine   = "ollama"
  model    = "polyglot-tiny"
  command  = [var.ollama_bin]
  env      = { OLLAMA_MODELS = var.models, HOME = var.home, OLLAMA_NO_CLOUD = "1", OLLAMA_NOPRUNE = "1" }
  restarts = 3
  ready {
    timeout  = "60s"
    interval = "100ms"
  }
}
