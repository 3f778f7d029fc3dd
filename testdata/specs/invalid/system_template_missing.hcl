experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
strategy "respond" {
  step "answer" {
    system   = "templates/system.txt" # ERROR: Template file not found
    template = "templates/respond.txt"
  }
}
