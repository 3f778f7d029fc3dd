# The smallest useful experiment: one language, one teacher, defaults elsewhere.
experiment "minimal" {
  languages = ["de"]
}

teacher "echo" {
  plugin = "echo"
  model  = "echo-1"
}
