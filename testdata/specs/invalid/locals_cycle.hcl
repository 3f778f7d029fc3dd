experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
locals {
  a = local.b
  b = "${local.a}-x" # ERROR: Cycle in references
}
