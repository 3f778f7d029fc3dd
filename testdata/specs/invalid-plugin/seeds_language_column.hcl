experiment "x" {
  languages = ["de", "fr"]
}
teacher "human" {
  plugin = "dataset"
  model  = "human"
  config {
    path = "../../../plugins/teachers/dataset/testdata/rows.jsonl"
  }
}
seeds "native" {
  path = "data/seeds_de.jsonl"
}
strategy "respond" { # ERROR: No seed rows in "fr" for strategy "respond"
  step "answer" {
    template = "templates/respond.txt"
  }
}
