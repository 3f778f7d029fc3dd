experiment "bad" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
dataset "a" {
  rule     = "top_k"
  k        = 0 # ERROR: Invalid k
  rows     = 10
  tokens   = 10 # ERROR: Both rows and tokens
  held_out = 1 # ERROR: Invalid held_out
  dedup {
    threshold = 0 # ERROR: Invalid threshold
  }
  decontaminate {
    files      = ["data/seeds.jsonl"]
    min_tokens = 20 # ERROR: Invalid min_tokens
  }
}
dataset "b" {
  rule = "table" # ERROR: Missing table
}
