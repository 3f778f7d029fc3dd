experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" { # ERROR: Missing required argument
  plugin = "echo"
}
