experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin             = "echo"
  model              = "m"
  batch              = true
  batch_max_requests = 0 # ERROR: Invalid batch_max_requests
}
