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
strategy "respond" {
  input {
    seeds = "native" # ERROR: Unknown seeds
  }
  step "answer" {
    template = "templates/respond.txt"
  }
}
