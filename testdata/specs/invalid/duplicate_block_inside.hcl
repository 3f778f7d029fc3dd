experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
  price {
    input_per_mtok = 1
  }
  price { # ERROR: Duplicate price block
    input_per_mtok = 2
  }
}
