experiment "x" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  config {
    headers { # ERROR: Unsupported block type
      a = "b"
    }
  }
}
