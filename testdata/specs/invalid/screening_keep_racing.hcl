experiment "bad" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
screening {
  stages = [500]
  keep   = 0.3 # ERROR: keep without rule = "halving"
}
