experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  batch  = "sometimes" # ERROR: Incorrect attribute value type
}
