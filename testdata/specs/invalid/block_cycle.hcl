experiment "bad" {
  languages = ["ar", "de"]
}
teacher "a" {
  plugin = "echo"
  model  = teacher.b.model
}
teacher "b" {
  plugin = "echo"
  model  = teacher.a.model # ERROR: Cycle in references
}
