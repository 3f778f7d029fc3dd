experiment "bad" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
screening {
  stages = [500]
}
screening { # ERROR: Duplicate screening block
  stages = [500]
}
