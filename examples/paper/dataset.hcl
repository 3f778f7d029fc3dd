# The training set the study recommends (polyglot export --compose sft; see
# it first with polyglot plan --compose sft): per language the best teacher
# x strategy cell, pooled with the cells the intervals cannot tell apart
# from it, 100k rows per language in the study's equal strategy shares,
# deduplicated across teachers and strategies and filtered by langid.
dataset "sft" {
  rule         = "best_strategy"
  pool         = true
  rows         = 100000
  strategy_mix = { generate = 1, translate = 1, respond = 1 }
  held_out     = 0.02

  # Decontamination against the evaluation benchmarks, once their items are
  # on disk (the files the harnesses download). Shapes read: MGSM's TSV
  # (question<TAB>answer, no header), Global-MMLU-Lite's CSV or Parquet
  # (question, option_a..option_d) and M-RewardBench's JSONL or Parquet
  # (prompt; add fields = ["prompt", "chosen"] to check the answers too).
  # A language without its file is listed as unchecked in the card.
  #
  # decontaminate {
  #   files = [
  #     "bench/mgsm/mgsm_{lang}.tsv",
  #     "bench/global_mmlu_lite/{lang}/test.parquet",
  #     "bench/m_rewardbench/{lang}/test.parquet",
  #   ]
  # }
}
