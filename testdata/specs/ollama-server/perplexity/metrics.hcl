# Added to ../ by core/command/ollama_servers_test.go: perplexity through the
# endpoint back end on the managed Ollama, which cannot return a prompt's
# log-probabilities; the metric must refuse at once, naming engines that can.
metric "perplexity" {
  plugin = "perplexity"
  config {
    backend  = "endpoint"
    base_url = server.tiny.url
    model    = server.tiny.model
  }
}
