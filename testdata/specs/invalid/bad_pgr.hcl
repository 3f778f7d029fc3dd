experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
score {
  pgr = "ratio" # ERROR: Invalid pgr variant
}
