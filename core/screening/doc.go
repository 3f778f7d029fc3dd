// Package screening decides, stage by stage, which teachers an experiment
// stops generating for (docs/method.md §9). A screened run generates a
// small prefix of every cell's data, scores the cells on it, drops the
// teachers that are clearly behind, and spends the rest only on the
// survivors; each stage's data is a prefix of the next one's, so nothing is
// generated twice.
//
// The package holds only the decision and its bookkeeping: it knows
// nothing of plugins or the store. The engine feeds it cell scores with
// intervals from core/score, the simulation (Simulate) feeds it synthetic
// cells, and both go through the same Decide, so the simulation's figures
// are those of the code a run uses. Decisions are deterministic: ties are
// broken by teacher name, and the simulation draws from seeded generators.
package screening
