experiment "bad" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
screening { # ERROR: Missing required argument
  rule = "halving"
  keep = 1  # ERROR: Invalid keep
}
