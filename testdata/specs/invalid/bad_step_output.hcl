experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
strategy "respond" {
  step "answer" {
    template = "templates/respond.txt"
    output   = "yaml" # ERROR: Invalid step output
  }
}
