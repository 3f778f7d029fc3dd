experiment "bad" {
  languages = [
    "ar",
    "ar", # ERROR: Duplicate language
  ]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
