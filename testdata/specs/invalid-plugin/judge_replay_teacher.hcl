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
    teacher = "human" # ERROR: Teacher "human" cannot serve metric.judge
  }
}
