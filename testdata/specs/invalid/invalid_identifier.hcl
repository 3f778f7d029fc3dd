experiment "bad" {
  languages = ["ar", "de"]
}
teacher "4o" { # ERROR: Invalid name
  plugin = "echo"
  model  = "m"
}
