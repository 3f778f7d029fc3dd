experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
langauges = ["ar"] # ERROR: Unsupported argument
