# ERROR: Missing experiment block
teacher "t" {
  plugin = "echo"
  model  = "m"
}
