experiment "x" {
  languages = ["de"]
}
teacher "human" {
  plugin = "dataset"
  model  = "human"
  config {
    path       = "../../../plugins/teachers/dataset/testdata/rows.jsonl"
    corruption = "shred" # ERROR: Unknown corruption
  }
}
