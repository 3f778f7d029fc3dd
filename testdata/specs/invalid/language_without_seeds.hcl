experiment "bad" {
  languages = ["de", "fr"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
seeds "german" {
  path     = "data/seeds.jsonl"
  language = "de"
}
strategy "respond" { # ERROR: No seed rows in "fr" for strategy "respond"
  step "answer" {
    template = "templates/respond.txt"
  }
}
