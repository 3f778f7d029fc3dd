# The open models of the study, served by vLLM as Slurm jobs that polyglot
# starts, watches and stops (docs/spec.md, `server`): eight teachers, the
# judge, the perplexity reference model and the embedder. A server starts
# when the first unit whose config refers to it (server.NAME.url) is ready
# to run, and stops after the last one; `polyglot plan` shows which units
# hold each one, `polyglot status` where it runs and its log, and the
# report's cost section the GPU-hours each one held. --max-servers N bounds
# how many run at once; --keep-servers leaves them up for the next run.
#
# The study served every model with a 4,096-token context; polyglot drops
# seed prompts longer than 3,596 tokens (4,096 - 500) as the study did, and
# the server needs room for the answer on top, hence --max-model-len 8192.
# Tensor parallelism follows each model's size, one GPU per shard.

variable "vllm_slurm" {
  type = object({ partition = string, account = string, qos = string, time = string })
  default = {
    partition = "gpu"
    account   = ""
    qos       = ""
    time      = "24:00:00"
  }
  description = "where the vLLM server jobs go, and their time limit"
}

variable "vllm" {
  type        = string
  default     = "vllm"
  description = "the vllm executable on the compute nodes (a name on PATH or a path)"
}

variable "vllm_env" {
  type        = map(string)
  default     = {}
  description = "environment of every vLLM server, e.g. { HF_HOME = \"/scratch/hf\" }"
}

server "llama31_70b" {
  engine  = "vllm"
  model   = "meta-llama/Llama-3.1-70B-Instruct"
  command = [var.vllm]
  args    = ["--tensor-parallel-size", "4", "--max-model-len", "8192"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 4
    cpus      = 32
    memory    = "256G"
  }
}

server "llama31_8b" {
  engine  = "vllm"
  model   = "meta-llama/Llama-3.1-8B-Instruct"
  command = [var.vllm]
  args    = ["--max-model-len", "8192"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 1
    cpus      = 8
    memory    = "64G"
  }
}

server "aya_expanse_32b" {
  engine  = "vllm"
  model   = "CohereLabs/aya-expanse-32b"
  command = [var.vllm]
  args    = ["--tensor-parallel-size", "2", "--max-model-len", "8192"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 2
    cpus      = 16
    memory    = "128G"
  }
}

server "gemma3_27b" {
  engine  = "vllm"
  model   = "google/gemma-3-27b-it"
  command = [var.vllm]
  args    = ["--tensor-parallel-size", "2", "--max-model-len", "8192"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 2
    cpus      = 16
    memory    = "128G"
  }
}

server "gemma3_12b" {
  engine  = "vllm"
  model   = "google/gemma-3-12b-it"
  command = [var.vllm]
  args    = ["--max-model-len", "8192"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 1
    cpus      = 8
    memory    = "64G"
  }
}

server "gemma3_4b" {
  engine  = "vllm"
  model   = "google/gemma-3-4b-it"
  command = [var.vllm]
  args    = ["--max-model-len", "8192"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 1
    cpus      = 8
    memory    = "64G"
  }
}

server "granite4_1b" {
  engine  = "vllm"
  model   = "ibm-granite/granite-4.0-1b"
  command = [var.vllm]
  args    = ["--max-model-len", "8192"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 1
    cpus      = 8
    memory    = "64G"
  }
}

server "granite4_micro" {
  engine  = "vllm"
  model   = "ibm-granite/granite-4.0-micro"
  command = [var.vllm]
  args    = ["--max-model-len", "8192"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 1
    cpus      = 8
    memory    = "64G"
  }
}

# The judge (teacher m_prometheus, generate = false).
server "m_prometheus" {
  engine  = "vllm"
  model   = "Unbabel/M-Prometheus-14B"
  command = [var.vllm]
  args    = ["--max-model-len", "8192"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 1
    cpus      = 8
    memory    = "64G"
  }
}

# The perplexity metric's reference base model (completions endpoint).
server "gemma3_4b_pt" {
  engine  = "vllm"
  model   = "google/gemma-3-4b-pt"
  command = [var.vllm]
  args    = ["--max-model-len", "8192"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 1
    cpus      = 8
    memory    = "64G"
  }
}

# The diversity metric's embedder (/v1/embeddings).
server "nemotron_embed" {
  engine  = "vllm"
  model   = "nvidia/llama-embed-nemotron-8b"
  command = [var.vllm]
  args    = ["--max-model-len", "8192", "--task", "embed", "--trust-remote-code"]
  env     = var.vllm_env
  ready {
    timeout = "30m" # downloading and loading the weights
  }
  executor "slurm" {
    partition = var.vllm_slurm.partition
    account   = var.vllm_slurm.account
    qos       = var.vllm_slurm.qos
    time      = var.vllm_slurm.time
    gpus      = 1
    cpus      = 8
    memory    = "64G"
  }
}
