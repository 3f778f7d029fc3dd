experiment "x" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  config {
    prefx = "oops" # ERROR: Unsupported argument
  }
}
