experiment "bad" {
  languages = ["de"]
}
server "a" {
  engine = "vlm" # ERROR: Invalid engine
  model  = "m"
}
server "b" { # ERROR: Missing required argument
  engine = "sglang"
}
server "c" {
  engine = "command" # ERROR: Missing required argument
}
server "d" {
  engine = "vllm"
  model  = "m"
  port   = 70000 # ERROR: Invalid port
  env    = { "1X" = "y" } # ERROR: Invalid environment variable name
  ready {
    path    = "v1/models" # ERROR: Invalid readiness path
    timeout = "soon" # ERROR: Invalid duration
  }
}
server "e" {
  engine = "ollama"
  model  = "tiny"
  executor "slurm" { # ERROR: Missing required argument
    memory = "lots" # ERROR: Invalid memory
    time   = "1:2:3:4" # ERROR: Invalid time limit
  }
}
server "f" {
  engine = "ollama"
  model  = "tiny"
  executor "local" {
    gres = "gpu:1" # ERROR: Unsupported argument
  }
}
