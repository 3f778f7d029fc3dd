experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  limits {
    timeout = "60 seconds" # ERROR: Invalid duration
  }
}
