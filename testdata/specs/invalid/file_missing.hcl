experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = file("templates/nope.txt") # ERROR: Invalid function argument
}
