experiment "bad" {
  languages = ["de"]
}
server "known" {
  engine = "ollama"
  model  = "tiny"
}
teacher "t" {
  plugin = "openai"
  model  = "m"
  config {
    base_url = server.knwon.url # ERROR: Reference to undeclared server
  }
}
