experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
locals {
  a = 1
}
locals {
  a = 2 # ERROR: Duplicate local value
}
