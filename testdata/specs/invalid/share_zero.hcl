experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
strategy "respond" {
  share = 0 # ERROR: Invalid share
  step "answer" {
    template = "templates/respond.txt"
  }
}
