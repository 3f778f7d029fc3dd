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
  kind     = "truncate"
  seeds    = "human"
  fraction = 1.5 # ERROR: Invalid fraction
}
