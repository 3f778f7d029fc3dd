experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
required_plugins {
  echo = { source = "./plugins/echo", version = ">= banana" } # ERROR: Invalid version constraint
}
