experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
variable "n" {
  type = lisst(string) # ERROR: Invalid type specification
}
