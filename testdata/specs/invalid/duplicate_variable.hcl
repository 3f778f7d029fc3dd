experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
variable "x" {
  default = 1
}
variable "x" { # ERROR: Duplicate variable
  default = 2
}
