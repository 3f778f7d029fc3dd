experiment "bad" {
  languages         = ["de"]
  examples_per_cell = 1000
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
screening {
  stages = [
    200,
    100,  # ERROR: Stages must increase
    1.5,  # ERROR: Invalid stage size
  ]
}
