experiment "bad" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
seeds "german" {
  path     = "data/seeds.jsonl"
  language = "de-AT"
}
strategy "translate" {
  input {
    language = "en" # ERROR: No seed rows in "en" for strategy "translate"
  }
  step "answer" {
    template = "templates/respond.txt"
  }
}
