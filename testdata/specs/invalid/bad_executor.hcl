experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
student "s" {
  base_model = "b"
  trainer    = "trl"
  executor "kubernetes" { # ERROR: Invalid executor kind
  }
}
