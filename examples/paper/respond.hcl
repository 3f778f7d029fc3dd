# respond (docs/method.md §2): the seed prompt is already in the target
# language; the teacher only writes the response and the prompt is kept.
strategy "respond" {
  share = 1

  # Seed rows in the target language whose strategies column lists
  # "respond" (or is empty).
  input {
    language = "target"
  }

  step "respond" {
    system   = "templates/system.txt"
    template = "templates/respond.txt"
  }

  emit {
    prompt   = "seed.prompt"
    response = "steps.respond.text"
  }
}
