experiment "bad" {
  languages = ["de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
screening {
  stages = [500]
  score  = "pg" # ERROR: PG stage score without students
}
