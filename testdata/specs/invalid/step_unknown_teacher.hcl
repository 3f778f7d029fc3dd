experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
strategy "respond" {
  step "answer" {
    teacher  = "gpt5" # ERROR: Unknown teacher
    template = "templates/respond.txt"
  }
}
