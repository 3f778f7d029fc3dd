experiment "bad" {
  languages = ["ar", "de"]
}
teacher "t" {
  plugin = "echo"
  model  = "m"
}
seeds "human" {
  path = "data/*.parquet" # ERROR: Seed data not found
}
