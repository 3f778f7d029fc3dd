experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
metric "ppl" {
  plugin = "perplexity"
}
score {
  metrics = [
    "ppl",
    "diversity", # ERROR: Unknown metric
  ]
}
