experiment "bad" {
  languages = ["ar", "english"] # ERROR: Invalid language tag
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
