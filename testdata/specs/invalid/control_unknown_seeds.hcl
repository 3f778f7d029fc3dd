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
control "c" {
  kind  = "truncate"
  seeds = "humans" # ERROR: Unknown seeds
}
