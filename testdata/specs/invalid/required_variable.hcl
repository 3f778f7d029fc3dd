experiment "bad" {
  languages = ["ar", "de"]
}
variable "model" { # ERROR: No value for required variable
  type = string
}
teacher "t" {
  plugin = "echo"
  model  = var.model
}
