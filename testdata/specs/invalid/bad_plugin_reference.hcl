experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "a/b/c" # ERROR: Invalid plugin reference
  model  = "m"
}
