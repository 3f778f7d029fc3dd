experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = env("POLYGLOT_SPEC_TEST_SURELY_UNSET") # ERROR: Invalid function argument
}
