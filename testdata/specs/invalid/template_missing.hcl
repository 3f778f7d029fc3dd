experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
strategy "respond" {
  step "answer" {
    template = "templates/nope.txt" # ERROR: Template file not found
  }
}
