experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
teacher "u" {
  plugin = "echo"
  model  = teachr.t.model # ERROR: Unknown variable
}
