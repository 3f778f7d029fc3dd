// Package score turns the raw numbers of a polyglot study into Polyglot Scores.
//
// It defines the study's data model (metric values per cell, benchmark scores per model,
// teacher facts, negative controls and example texts), imports it from JSONL or CSV
// (schema in IMPORT.md), and implements docs/method.md §4–§5: PGR per benchmark in both
// variants, Extrinsic, Intrinsic from pooled z-scores, PG = α·Intrinsic + (1−α)·Extrinsic,
// per-teacher means, anchor diagnostics, and uncertainty (t-intervals over seeds, a
// deterministic bootstrap over examples, and "indistinguishable from the best" sets).
//
// Choices the method leaves open, fixed here and documented where they are made:
//   - The statistical unit is (teacher, language, strategy, seed). z-scores are pooled over
//     all units of the same strategy level (strategy "" for the ranking, all named strategies
//     together for the per-strategy table), with the population SD. Because z is linear,
//     the cell's score (mean over seeds) equals the score of the seed-averaged metrics.
//   - A metric listed in Settings.Metrics selects a record metric with the same name or a
//     name that starts with it followed by "." or "/" (so "diversity" selects
//     "diversity.prompt" and "diversity.response"). An empty list selects every metric whose
//     direction is not "none".
//   - Perplexity (a metric named "ppl" or "perplexity", or starting with "ppl."/"perplexity.")
//     enters as −log(1+PPL); other "lower" metrics are negated; "higher" metrics enter as is.
//   - With several student models, a cell's Extrinsic is the mean of the students' PGRs.
//
// The arithmetic is written here rather than taken from a library because it is the
// specification itself (a few dozen lines of means and ratios); distributions come from gonum.
package score
