experiment "x" {
  languages = ["de"]
}
teacher "human" { # ERROR: Missing required argument
  plugin = "dataset"
  model  = "human"
}
