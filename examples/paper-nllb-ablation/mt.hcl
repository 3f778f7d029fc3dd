# NLLB-200, the machine translation model of the two-step strategy. It
# serves translate_nllb's first step only: generate = false keeps it from
# generating cells of its own and out of the ranking. NLLB is a
# sequence-to-sequence translation model, not a chat model: serve it behind
# an OpenAI-compatible /chat/completions endpoint that translates the user
# message into the target language the call's metadata names (the
# template also says it), and point var.nllb_url at it.
variable "nllb_url" {
  type        = string
  default     = "http://127.0.0.1:8012/v1"
  description = "OpenAI-compatible endpoint serving NLLB-200 translation"
}

teacher "nllb" {
  generate   = false
  plugin     = "openai"
  model      = "facebook/nllb-200-3.3B"
  family     = "nllb"
  parameters = 3.3e9
  sampling {
    temperature = 0
    max_tokens  = 1024
  }
  limits {
    concurrency = 64
    timeout     = "600s"
  }
  config {
    base_url          = var.nllb_url
    structured_output = "none"
  }
}
