experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  sampling {
    top_p = 2 # ERROR: Invalid top_p
  }
}
