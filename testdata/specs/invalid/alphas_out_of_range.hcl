experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
score {
  alphas = [0, 0.5, -1] # ERROR: Invalid alpha
}
