experiment "bad" { # ERROR: Missing required argument
  seeds = [1]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
