experiment "bad" {
  languages = ["ar"]
  seeds     = [1, 2.5] # ERROR: Invalid whole number
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
