experiment "x" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo/whisper" # ERROR: No teacher component "whisper"
  model  = "m"
}
