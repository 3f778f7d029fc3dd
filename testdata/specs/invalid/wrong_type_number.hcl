experiment "bad" {
  languages         = ["ar"]
  examples_per_cell = "many" # ERROR: Incorrect attribute value type
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
