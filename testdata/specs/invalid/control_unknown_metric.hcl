experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
seeds "human" {
  path = "data/seeds.jsonl"
}
metric "ppl" {
  plugin = "perplexity"
}
control "c" {
  kind      = "truncate"
  seeds     = "human"
  caught_by = ["ppl", "perplexity"] # ERROR: Unknown metric
}
