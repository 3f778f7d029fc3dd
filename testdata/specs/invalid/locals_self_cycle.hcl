experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
locals {
  a = local.a # ERROR: Cycle in references
}
