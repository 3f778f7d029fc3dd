experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
teachr "x" { # ERROR: Unsupported block type
  plugin = "echo"
}
