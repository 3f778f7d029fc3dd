experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
experiment "again" { # ERROR: Duplicate experiment block
  languages = ["de"]
}
