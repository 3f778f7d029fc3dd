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
  seeds = seeds.humans # ERROR: Reference to undeclared seeds
}
