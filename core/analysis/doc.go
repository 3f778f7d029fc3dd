// Package analysis runs the analyses of docs/method.md §6 on scored results: PCA of the
// standardised intrinsic features, cross-validated regression of student performance on the
// leading components, Spearman correlations (average ranks for ties), α-robustness, scale
// against PG-Score, best teacher and strategy per language, teacher–student family
// matching, cost, negative controls, and recommendations derived from those numbers.
//
// Linear algebra and distributions come from gonum (mat, stat, distuv). Small statistics
// that gonum lacks in the needed form — average-rank Spearman with a p-value, simple OLS with
// the slope's standard error, Welch's t-test, k-fold cross-validation — are written here,
// each a few lines over gonum primitives, and checked against textbook answers in the tests.
package analysis
