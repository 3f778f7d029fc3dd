package compose

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/spec"
)

// Pick is one teacher (or teacher × strategy) of a language's mix.
type Pick struct {
	Teacher  string
	Strategy string // "" = every strategy of the teacher
	// PG, CI, Rank and Standing are the score's, for the card; CI may be nil.
	PG       float64
	CI       *score.Interval
	Rank     int
	Standing string
	Scored   bool    // false for a table entry the score has no cell for
	Weight   float64 // share of the language's rows, summing to 1 over the picks
	Why      string  // why it was picked
}

// Slot is the unit a quota applies to: a pick's rows of one strategy, or
// of every strategy when there is no strategy mix.
type Slot struct {
	Pick      int    // index in the language's Picks
	Strategy  string // "" = every strategy of the pick
	Weight    float64
	Available int // rows the store holds for the slot
	// Quota bounds the slot's kept rows (Rows) or tokens (Tokens); 0 = no
	// bound.
	Quota int
}

// LanguagePlan is what the composition takes in one language.
type LanguagePlan struct {
	Language string
	Picks    []Pick
	Slots    []Slot
	// Expected is the rows the plan expects to keep before the filters
	// (the quotas, or the rows available when fewer).
	Expected int
	Note     string // why the language has no picks
}

// Select applies the dataset's rule to the score result. roles names the
// negative controls ("control"), which are never picked; their reference
// data is real data and may be.
func Select(d *spec.Dataset, res *score.Result, languages []string, roles map[string]string) []LanguagePlan {
	var out []LanguagePlan
	for _, lang := range languages {
		lp := LanguagePlan{Language: lang}
		// The candidates are the ranking's cells and, scored on the same
		// pooling, the reference data of the negative controls (real data,
		// kept out of the ranking only when there are teachers to rank).
		cand := func(cells []score.CellScore, strategies bool) []score.CellScore {
			var cs []score.CellScore
			seen := map[[2]string]bool{}
			for _, c := range cells {
				if c.Language == lang && roles[c.Teacher] != "control" && c.Rank > 0 {
					cs = append(cs, c)
					seen[[2]string{c.Teacher, c.Strategy}] = true
				}
			}
			for _, c := range res.Controls {
				if c.Language == lang && roles[c.Teacher] == "reference" && (c.Strategy != "") == strategies && !seen[[2]string{c.Teacher, c.Strategy}] {
					if c.Standing == "" {
						c.Standing = "reference data"
					}
					cs = append(cs, c)
				}
			}
			slices.SortStableFunc(cs, func(a, b score.CellScore) int {
				return cmp.Or(cmp.Compare(b.PG, a.PG), strings.Compare(a.Teacher, b.Teacher), strings.Compare(a.Strategy, b.Strategy))
			})
			for i := range cs {
				cs[i].Rank = i + 1 // among the candidates
			}
			return cs
		}
		pick := func(c score.CellScore, why string) Pick {
			return Pick{Teacher: c.Teacher, Strategy: c.Strategy, PG: c.PG, CI: c.CI, Rank: c.Rank, Standing: c.Standing, Scored: true, Why: why}
		}
		switch d.Rule {
		case "best", "best_strategy":
			cs := cand(res.Cells, false)
			if d.Rule == "best_strategy" && len(res.ByStrategy) > 0 {
				cs = cand(res.ByStrategy, true)
			}
			if len(cs) == 0 {
				lp.Note = "no scored teacher in this language"
				break
			}
			best := cs[0]
			lp.Picks = append(lp.Picks, pick(best, "best"))
			if d.Pool {
				for _, c := range cs[1:] {
					if indistinguishable(d.Rule, best, c) {
						lp.Picks = append(lp.Picks, pick(c, "indistinguishable from the best"))
					}
				}
			}
			pgWeights(lp.Picks)
		case "top_k":
			cs := cand(res.Cells, false)
			if len(cs) == 0 {
				lp.Note = "no scored teacher in this language"
				break
			}
			for i, c := range cs[:min(d.K, len(cs))] {
				lp.Picks = append(lp.Picks, pick(c, fmt.Sprintf("top %d (rank %d)", d.K, i+1)))
			}
			pgWeights(lp.Picks)
		case "table":
			row, ok := d.Table[lang]
			if !ok {
				row = d.Table["*"]
			}
			total := 0.0
			for _, key := range sortedKeys(row) {
				if row[key] <= 0 {
					continue
				}
				t, s, _ := strings.Cut(key, "/")
				p := Pick{Teacher: t, Strategy: s, Weight: row[key], Why: "table"}
				for _, c := range cand(res.Cells, false) {
					if s != "" {
						break
					}
					if c.Teacher == t && c.Strategy == s {
						p.PG, p.CI, p.Rank, p.Standing, p.Scored = c.PG, c.CI, c.Rank, c.Standing, true
					}
				}
				for _, c := range res.ByStrategy {
					if s == "" {
						break
					}
					if c.Teacher == t && c.Language == lang && c.Strategy == s {
						p.PG, p.CI, p.Rank, p.Standing, p.Scored = c.PG, c.CI, c.Rank, c.Standing, true
					}
				}
				lp.Picks = append(lp.Picks, p)
				total += row[key]
			}
			for i := range lp.Picks {
				lp.Picks[i].Weight /= total
			}
			if len(lp.Picks) == 0 {
				lp.Note = "the table gives this language no teacher"
			}
		}
		out = append(out, lp)
	}
	return out
}

// indistinguishable says whether c cannot be told apart from the best:
// the score's own standing for the ranking's cells; for teacher ×
// strategy cells, which the score ranks within a strategy only,
// overlapping confidence intervals.
func indistinguishable(rule string, best, c score.CellScore) bool {
	ranked := func(s string) bool {
		return s == score.StandingBest || s == score.StandingIndistinguishable || s == score.StandingWorse
	}
	if (rule == "best" || best.Strategy == c.Strategy) && ranked(best.Standing) && ranked(c.Standing) {
		return c.Standing == score.StandingIndistinguishable
	}
	return best.CI != nil && c.CI != nil && c.CI.Hi >= best.CI.Lo
}

// pgWeights sets the picks' weights in proportion to their PG-Scores. PG
// is a sum of z-scores and may be zero or negative: then the scores are
// shifted so the lowest pick weighs 1/k of the picks' spread above zero,
// which keeps the order and every pick in the mix.
func pgWeights(ps []Pick) {
	if len(ps) == 0 {
		return
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range ps {
		lo, hi = min(lo, p.PG), max(hi, p.PG)
	}
	w := make([]float64, len(ps))
	switch {
	case hi-lo < 1e-12:
		for i := range w {
			w[i] = 1
		}
	case lo > 0:
		for i, p := range ps {
			w[i] = p.PG
		}
	default:
		for i, p := range ps {
			w[i] = p.PG - lo + (hi-lo)/float64(len(ps))
		}
	}
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	for i := range ps {
		ps[i].Weight = w[i] / sum
	}
}

// Available counts rows per (teacher, language, strategy).
type Available map[[3]string]int

// Plan splits each language's picks into slots with quotas. size is the
// bound per language (rows, or tokens when tokens is true; 0 = none).
// Without a bound, the slots keep the weights' proportions by taking all
// rows of the slot that runs out first and as many of the others as the
// proportions allow.
func Plan(lps []LanguagePlan, avail Available, mix map[string]float64, size int, tokens bool) {
	var mixNames []string
	mixSum := 0.0
	for _, s := range sortedKeys(mix) {
		if mix[s] > 0 {
			mixNames = append(mixNames, s)
			mixSum += mix[s]
		}
	}
	for li := range lps {
		lp := &lps[li]
		lp.Slots, lp.Expected = nil, 0
		for pi, p := range lp.Picks {
			count := func(strategy string) int {
				n := 0
				for k, c := range avail {
					if k[0] == p.Teacher && k[1] == lp.Language && (strategy == "" || k[2] == strategy) {
						n += c
					}
				}
				return n
			}
			switch {
			case len(mixNames) > 0 && p.Strategy == "":
				for _, s := range mixNames {
					lp.Slots = append(lp.Slots, Slot{Pick: pi, Strategy: s, Weight: p.Weight * mix[s] / mixSum, Available: count(s)})
				}
			case len(mixNames) > 0 && mix[p.Strategy] <= 0:
				// a teacher × strategy pick outside the mix adds nothing
			default:
				lp.Slots = append(lp.Slots, Slot{Pick: pi, Strategy: p.Strategy, Weight: p.Weight, Available: count(p.Strategy)})
			}
		}
		if len(lp.Slots) == 0 {
			continue
		}
		switch {
		case size > 0:
			quotas := apportion(size, lp.Slots)
			for i := range lp.Slots {
				lp.Slots[i].Quota = quotas[i]
				if tokens {
					lp.Expected += lp.Slots[i].Available
				} else {
					lp.Expected += min(quotas[i], lp.Slots[i].Available)
				}
			}
		default:
			// The total the proportions allow: the scarcest slot's rows
			// over its weight.
			total := math.Inf(1)
			for _, s := range lp.Slots {
				if s.Weight > 0 {
					total = min(total, float64(s.Available)/s.Weight)
				}
			}
			if len(lp.Slots) == 1 {
				lp.Slots[0].Quota = 0 // everything
				lp.Expected = lp.Slots[0].Available
				continue
			}
			quotas := apportion(int(math.Floor(total+1e-9)), lp.Slots)
			for i := range lp.Slots {
				lp.Slots[i].Quota = max(quotas[i], 1) // 0 would mean no bound
				lp.Expected += min(lp.Slots[i].Quota, lp.Slots[i].Available)
			}
		}
	}
}

// apportion splits n by the slots' weights with the largest-remainder
// method, so the quotas sum to n exactly.
func apportion(n int, slots []Slot) []int {
	out := make([]int, len(slots))
	type rem struct {
		i int
		r float64
	}
	var rs []rem
	given := 0
	for i, s := range slots {
		x := float64(n) * s.Weight
		out[i] = int(math.Floor(x))
		given += out[i]
		rs = append(rs, rem{i, x - math.Floor(x)})
	}
	slices.SortStableFunc(rs, func(a, b rem) int { return cmp.Compare(b.r, a.r) })
	for j := 0; given < n && j < len(rs); j++ {
		out[rs[j].i]++
		given++
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
