experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
score {
  standardize = "zscore" # ERROR: Invalid standardize mode
}
