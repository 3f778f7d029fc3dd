experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
teacher "u" {
  plugin = "echo"
  model  = teacher.t.modle # ERROR: Unsupported attribute
}
