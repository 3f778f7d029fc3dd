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
    output   = "json"
    schema   = { prompt = "str", response = "string" } # ERROR: Invalid schema type
  }
  emit {
    prompt = "steps.answer.prompt"
  }
}
