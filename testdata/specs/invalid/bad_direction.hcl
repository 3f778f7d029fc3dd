experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
metric "ppl" {
  plugin    = "perplexity"
  direction = "down" # ERROR: Invalid metric direction
}
