experiment "bad" {
  languages = ["ar", "de"]
}
locals {
  m = "x"
}
teacher "t" {
  plugin = "echo"
  model  = local.nope # ERROR: Reference to undeclared local value
}
