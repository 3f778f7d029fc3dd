experiment "x" {
  languages = ["de"]
}
teacher "human" {
  plugin = "dataset"
  model  = "human"
  config {
    path = "../../../plugins/teachers/dataset/testdata/rows.jsonl"
  }
}
metric "judge" {
  plugin = "judge"
  config {
    teacher = "gpt5" # ERROR: Unknown teacher "gpt5"
  }
}
