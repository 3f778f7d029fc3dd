experiment "x" {
  languages = ["de"]
}
metric "m" {
  plugin = "echo" # ERROR: No metric component
}
