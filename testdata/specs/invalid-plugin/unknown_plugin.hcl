experiment "x" {
  languages = ["de"]
}
teacher "t" {
  plugin = "no-such-plugin" # ERROR: Plugin "no-such-plugin" unavailable
  model  = "m"
}
