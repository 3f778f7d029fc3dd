seeds "human" {
  path   = "data/seeds.jsonl"
  format = "jsonl"
  columns {
    tags = "task_family"
  }
  language = "en"
}

seeds "native" {
  path = "data/native_*.jsonl"
}

strategy "respond" {
  share = 1
  input {
    seeds = seeds.native
  }
  step "answer" {
    system   = "templates/system.txt"
    template = "templates/respond.txt"
  }
  emit {
    prompt   = "seed.prompt"
    response = "steps.answer.text"
  }
}

strategy "translate" {
  share      = 2
  in_context = 3
  input {
    seeds    = "human"
    language = "en"
    tags     = ["math"]
  }
  step "translate" {
    system   = "templates/system.txt"
    template = "templates/translate.txt"
    output   = "json"
    schema   = { prompt = "string", response = "string" }
  }
  step "polish" {
    teacher    = "gpt4o"
    template   = "templates/polish.txt"
    max_tokens = 1024
  }
  emit {
    prompt   = "steps.translate.prompt"
    response = "steps.polish.text"
  }
}

metric "ppl" {
  plugin    = "perplexity"
  direction = "lower"
  config {
    model = "google/gemma-3-4b-pt"
  }
}

metric "judge" {
  plugin   = "judge"
  in_score = true
  sample   = 500
  config {
    rubric = local.rubric
    judge  = teacher.gpt4o.model
  }
}

metric "length" {
  plugin   = "length"
  in_score = false
}

student "olmo" {
  base_model      = "allenai/Olmo-3-7B"
  family          = "olmo"
  reference       = env("POLYGLOT_TEST_REFERENCE", "allenai/Olmo-3-7B-Instruct")
  trainer         = "trl"
  hyperparameters = { learning_rate = 5e-5, epochs = 2 }
  executor "slurm" {
    partition = "gpu"
    gpus      = 1
    time      = "04:00:00"
    account   = "x"
    extra     = { constraint = "a100" }
  }
  config {
    max_length = 16384
  }
}

student "gemma" {
  base_model = "google/gemma-3-4b-pt"
  trainer    = "trl"
}

benchmark "global_mmlu_lite" {
  languages = ["ar"]
  task      = "global_mmlu_lite"
  shots     = 0
  metric    = "acc"
  weight    = 1
}

benchmark "mgsm" {
  shots = 5
}

score {
  alpha       = 0.5
  metrics     = ["ppl", "judge"]
  pgr         = "mean_then_ratio"
  standardize = "restandardized"
  confidence  = 0.9
  bootstrap   = 200
  alphas      = [0, 0.5, 1]
}

# Training sets built from the ranking (polyglot export --compose NAME).
dataset "sft" {
  rule         = "top_k"
  k            = 2
  rows         = 5000
  strategy_mix = { respond = 3, translate = 1 }
  held_out     = 0.1
  split_seed   = 7
  langid       = "keep"
  dedup {
    threshold = 0.9
    seeds     = true
  }
  decontaminate {
    files = ["data/bench.jsonl"]
    ngram = 8
  }
}

dataset "hand" {
  rule   = "table"
  table  = { "*" = { gpt4o = 1 }, ar = { "aya/translate" = 2, gpt4o = 1 } }
  tokens = 100000
  system = "messages"
}
