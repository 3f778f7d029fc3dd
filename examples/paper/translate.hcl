# translate (docs/method.md §2): the teacher translates an English seed prompt
# into the target language and answers it there, in one JSON object.
strategy "translate" {
  share = 1

  # English seed rows whose strategies column lists "translate" (or is empty).
  input {
    language = "en"
  }

  step "translate" {
    system   = "templates/system.txt"
    template = "templates/translate.txt"
    output   = "json"
    schema   = { prompt = "string", response = "string" }
  }

  emit {
    prompt   = "steps.translate.prompt"
    response = "steps.translate.response"
  }
}
