experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
seeds "human" {
  path   = "data/seeds.jsonl"
  format = "xlsx" # ERROR: Invalid seed format
}
