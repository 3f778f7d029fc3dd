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
  kind  = "scramble" # ERROR: Invalid control kind
  seeds = "human"
}
