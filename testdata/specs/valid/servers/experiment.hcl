experiment "servers" {
  languages = ["de"]
}

# A vLLM server on Slurm: the teacher and the judge's teacher reach it by
# reference, never by a hard-coded URL.
server "gemma" {
  engine   = "vllm"
  model    = "google/gemma-3-27b-it"
  args     = ["--max-model-len", "8192"]
  env      = { HF_HOME = "/scratch/hf" }
  restarts = 1
  hold_estimate = "3h"
  ready {
    timeout = "20m"
  }
  executor "slurm" {
    partition = "gpu"
    account   = "lab"
    time      = "12:00:00"
    gpus      = 2
    cpus      = 16
    memory    = "128G"
    extra     = { constraint = "a100" }
  }
}

# Anything that serves HTTP: {port} is replaced by the port chosen.
server "tiny" {
  engine  = "command"
  command = ["./fake-server", "--listen", "{host}:{port}"]
  port    = 18080
  ready {
    path     = "/healthz"
    interval = "200ms"
  }
}

server "llama" {
  engine = "llama.cpp"
  model  = "/models/tiny.gguf"
}

teacher "gemma" {
  plugin = "openai"
  model  = server.gemma.model
  config {
    base_url = server.gemma.url
  }
}

teacher "tiny" {
  plugin = "openai"
  model  = "tiny"
  config {
    base_url = "${server.tiny.address}/v1"
  }
}
