experiment "bad" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
dataset "a" {
  strategy_mix  = { respnd = 1 } # ERROR: Unknown strategy in strategy_mix
  langid_metric = "lang" # ERROR: Unknown metric
  decontaminate {
    files = ["data/seeds.jsonl", "no/such/bench_{lang}.jsonl"] # ERROR: Benchmark file not found
  }
}
dataset "c" {
  rule  = "table"
  table = { de = { tt = 1 } } # ERROR: Unknown teacher in table
}
