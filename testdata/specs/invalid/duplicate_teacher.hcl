experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
teacher "t" { # ERROR: Duplicate teacher
  plugin = "echo"
  model  = "m"
}
