experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin  = "echo"
  model   = "m"
  familly = "gpt" # ERROR: Unsupported argument
}
