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
control "t" { # ERROR: Duplicate teacher
  kind  = "truncate"
  seeds = "human"
}
