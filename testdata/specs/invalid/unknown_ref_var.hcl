experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = var.nope # ERROR: Reference to undeclared input variable
}
