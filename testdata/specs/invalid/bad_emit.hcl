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
  }
  emit {
    response = "steps.nope.text" # ERROR: Invalid emit source
  }
}
