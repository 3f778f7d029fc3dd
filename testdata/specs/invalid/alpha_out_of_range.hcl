experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
score {
  alpha = 1.5 # ERROR: Invalid alpha
}
