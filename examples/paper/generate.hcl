# generate (docs/method.md §2): the teacher sees k = 3 seed (prompt, response)
# pairs in the target language and writes a new, hard but solvable task
# from one of ten task families, with its answer. Requests cycle through
# the families because the template uses {{task_family}}.
strategy "generate" {
  share      = 1
  in_context = 3

  # Seed rows in the target language whose strategies column lists
  # "generate" (or is empty). Add seeds = seeds.NAME to use one seeds block.
  input {
    language = "target"
  }

  step "generate" {
    system   = "templates/system.txt"
    template = "templates/generate.txt"
    output   = "json"
    schema   = { prompt = "string", response = "string" }
  }

  emit {
    prompt   = "steps.generate.prompt"
    response = "steps.generate.response"
  }
}
