experiment "bad" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
screening {
  stages     = [500]
  rule       = "knockout" # ERROR: Invalid screening rule
  scope      = "global"   # ERROR: Invalid screening scope
  confidence = 1.5        # ERROR: Invalid confidence
  min_keep   = 0          # ERROR: min_keep
}
