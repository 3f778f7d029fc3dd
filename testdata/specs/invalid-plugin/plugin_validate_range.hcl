experiment "x" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  config {
    prefix = "> "
    repeat = 42 # ERROR: repeat out of range
  }
}
