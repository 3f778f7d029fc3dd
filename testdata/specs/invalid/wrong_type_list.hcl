experiment "bad" {
  languages = { ar = 1 } # ERROR: Incorrect attribute value type
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
