experiment "bad" {
  languages = ["de"]
}
teacher "gpt" {
  plugin = "echo"
  model  = "m"
  batch  = true
}
teacher "mt" {
  plugin   = "echo"
  model    = "nllb"
  generate = false
}
strategy "mt-then-respond" {
  step "translate" {
    teacher  = "mt" # ERROR: cannot run in teacher "gpt"'s batches
    template = "templates/respond.txt"
  }
  step "answer" {
    template = "templates/respond.txt"
  }
}
