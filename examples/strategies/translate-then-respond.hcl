# translate_then_respond: the NLLB-style ablation of translate. A dedicated
# machine-translation teacher translates the English seed prompt (step 1);
# the cell's teacher then answers the translated prompt (step 2). Comparing
# it with "translate" separates the teacher's translation skill from its
# answering skill.
#
# Requires a teacher block named "mt" (rename it below to match yours),
# declared with generate = false so it serves this step without becoming a
# ranked teacher of its own. The
# call's metadata carries the target language, so a plain MT plugin can
# ignore the instruction in the template and translate seed text alone.
# English seed rows feed it when their strategies column lists
# "translate_then_respond" or is empty. Leave this file out of an experiment
# that does not run the ablation.
strategy "translate_then_respond" {
  share = 1

  input {
    language = "en"
  }

  step "translate" {
    teacher    = "mt"
    template   = "templates/machine-translate.txt"
    max_tokens = 1024
  }

  step "respond" {
    teacher    = "self"
    system     = "templates/system.txt"
    template   = "templates/respond-translated.txt"
    max_tokens = 2048
  }

  emit {
    prompt   = "steps.translate.text"
    response = "steps.respond.text"
  }
}
