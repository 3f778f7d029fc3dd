experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
benchmark "mgsm" {
  languages = ["de", "x-!"] # ERROR: Invalid language tag
}
