experiment "bad" {
  languages         = ["de"]
  examples_per_cell = 1000
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
screening {
  stages = [100, 1000] # ERROR: Stage as large as the full run
}
