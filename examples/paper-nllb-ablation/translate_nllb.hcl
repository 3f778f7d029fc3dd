# translate_nllb: the two-step ablation of translate. NLLB-200 translates the
# English seed prompt (step 1); the cell's teacher answers the translation
# (step 2). Set against translate, it separates the teacher's translation
# from its answering.
strategy "translate_nllb" {
  share = 1

  input {
    language = "en"
  }

  step "translate" {
    teacher    = "nllb"
    template   = "templates/machine-translate.txt"
    max_tokens = 1024
  }

  step "respond" {
    teacher  = "self"
    system   = "templates/system.txt"
    template = "templates/respond-translated.txt"
  }

  emit {
    prompt   = "steps.translate.text"
    response = "steps.respond.text"
  }
}
