experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "openai"
  model  = "m"
}
required_plugins {
  openai = { source = "./plugins/openai", replaces_builtin = "yes" } # ERROR: Incorrect attribute value type
}
