experiment "x" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  config {
    uppercase = "very" # ERROR: Incorrect attribute value type
  }
}
