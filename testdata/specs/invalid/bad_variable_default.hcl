experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
variable "n" {
  type    = number
  default = "many" # ERROR: Invalid default value for variable
}
