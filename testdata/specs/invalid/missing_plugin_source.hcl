experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
required_plugins {
  echo = { version = ">= 1.0" } # ERROR: Missing plugin source
}
