experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  limits {
    concurrency = -1 # ERROR: Invalid concurrency
  }
}
