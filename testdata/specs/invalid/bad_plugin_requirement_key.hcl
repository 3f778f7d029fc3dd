experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
required_plugins {
  echo = { source = "./plugins/echo", verison = "1.0" } # ERROR: Unsupported plugin requirement argument
}
