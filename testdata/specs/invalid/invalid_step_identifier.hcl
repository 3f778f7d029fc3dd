experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
strategy "respond" {
  step "first answer" { # ERROR: Invalid name
    template = "templates/respond.txt"
  }
}
