experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
strategy "respond" {
  input {
    language = "englisch" # ERROR: Invalid language tag
  }
  step "answer" {
    template = "templates/respond.txt"
  }
}
