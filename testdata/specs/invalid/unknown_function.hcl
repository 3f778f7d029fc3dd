experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = uppercase("m") # ERROR: Call to unknown function
}
