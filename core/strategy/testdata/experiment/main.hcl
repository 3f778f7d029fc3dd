# A small experiment that uses the example strategies of
# examples/strategies; the test copies those files next to this one, the
# way a user would.
experiment "strategies" {
  languages         = ["yo", "sr-Latn", "zh-Hant"]
  examples_per_cell = 30
}

seeds "native" {
  path = "data/native.jsonl"
}

seeds "english" {
  path     = "data/english.jsonl"
  language = "en"
}

teacher "gemma" {
  plugin = "echo"
  model  = "gemma-3-27b-it"
  family = "gemma"
}

teacher "mt" {
  plugin = "echo"
  model  = "nllb-200-3.3B"
  family = "nllb"
}
