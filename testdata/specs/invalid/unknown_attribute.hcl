experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  modle  = "m2" # ERROR: Unsupported argument
}
