experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
seeds "human" {
  path = "data/nope.jsonl" # ERROR: Seed data not found
}
