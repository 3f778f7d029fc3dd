experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  config {
    key = var.api_key # ERROR: Reference to undeclared input variable
  }
}
