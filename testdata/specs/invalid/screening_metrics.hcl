experiment "bad" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
metric "judge" {
  plugin = "length"
}
screening {
  stages  = [500]
  score   = "metrics"
  metrics = ["judge", "fluency"] # ERROR: Unknown metric
}
