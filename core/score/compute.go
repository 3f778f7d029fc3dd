package score

import (
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat"
)

type unitKey struct {
	Teacher, Language, Strategy string
	Seed                        int
}

type cellKey struct{ Teacher, Language, Strategy string }

func (u unitKey) cell() cellKey { return cellKey{u.Teacher, u.Language, u.Strategy} }

// unit is one (teacher, language, strategy, seed) observation.
type unit struct {
	key       unitKey
	metrics   map[string]*MetricRecord
	hasIn     bool
	in        float64
	hasEx     bool
	ex        float64
	pgrByB    map[string][]float64 // per-benchmark ratios over students
	byStudent map[string]float64   // extrinsic per student (chosen variant)
}

// pool holds the pooling parameters of one level, kept so that bootstrap replicates
// are standardised exactly like the point estimate.
type pool struct {
	mean, sd map[string]float64
	// second-stage parameters for the restandardized variant
	inMean, inSD float64
}

// IsPerplexity says whether a metric name denotes perplexity, which enters as −log(1+PPL).
func IsPerplexity(name string) bool {
	n := strings.ToLower(name)
	for _, p := range []string{"ppl", "perplexity"} {
		if n == p || strings.HasPrefix(n, p+".") || strings.HasPrefix(n, p+"/") || strings.HasPrefix(n, p+"_") {
			return true
		}
	}
	return false
}

// Orient maps a metric value so that higher is better (docs/method.md §5).
func Orient(metric string, d Direction, v float64) float64 {
	return orient(IsPerplexity(metric), d, v)
}

func orient(ppl bool, d Direction, v float64) float64 {
	switch {
	case ppl:
		return -math.Log1p(v)
	case d == Lower:
		return -v
	default:
		return v
	}
}

func transform(metric string, d Direction) string {
	switch {
	case IsPerplexity(metric):
		return "-log(1+x)"
	case d == Lower:
		return "-x"
	default:
		return "x"
	}
}

// Selects says whether a score-metric name selects a record metric (same name, or a
// prefix followed by "." or "/").
func Selects(selector, metric string) bool {
	return metric == selector || strings.HasPrefix(metric, selector+".") || strings.HasPrefix(metric, selector+"/")
}

// Compute scores a study. It fails on invalid settings and on contradictory data
// (a metric with two directions, a record given twice); data problems that still allow
// scores (anchors, missing metrics) become Diagnostics.
func Compute(st *Study, s Settings) (*Result, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	res := &Result{Settings: s}
	c := &computer{st: st, s: s, res: res, excluded: map[string]bool{}}
	for _, ctl := range st.Controls {
		c.excluded[ctl.Name] = true
		c.excluded[ctl.Reference] = true
	}
	if err := c.selectMetrics(); err != nil {
		return nil, err
	}
	if err := c.indexBenchmarks(); err != nil {
		return nil, err
	}
	c.anchorDiagnostics()

	// Controls and their reference data stay out of the ranking unless
	// asked for (an experiment of reference data and controls only ranks them).
	out := func(teacher string) bool { return c.excluded[teacher] && !s.RankControls }
	// Cells that generated too little are reported, not ranked.
	unranked := c.coverage()
	main, err := c.level(func(m *MetricRecord) bool {
		return m.Strategy == "" && !out(m.Teacher) && !unranked[cellKey{m.Teacher, m.Language, ""}]
	}, func(b *BenchmarkRecord) bool {
		return b.Strategy == "" && !out(b.Teacher) && !unranked[cellKey{b.Teacher, b.Language, ""}]
	})
	if err != nil {
		return nil, err
	}
	res.Cells = main
	strat, err := c.level(func(m *MetricRecord) bool {
		return m.Strategy != "" && !out(m.Teacher) && !unranked[cellKey{m.Teacher, m.Language, m.Strategy}]
	}, func(b *BenchmarkRecord) bool {
		return b.Strategy != "" && !out(b.Teacher) && !unranked[cellKey{b.Teacher, b.Language, b.Strategy}]
	})
	if err != nil {
		return nil, err
	}
	res.ByStrategy = strat
	if len(c.excluded) > 0 {
		ctl, err := c.controlCells()
		if err != nil {
			return nil, err
		}
		res.Controls = ctl
	}
	// Every cell below the generation minimums still gives a report: its diagnostics
	// and generation table say why nothing is ranked.
	if len(res.Cells) == 0 && len(res.ByStrategy) == 0 && len(unranked) == 0 {
		return nil, fmt.Errorf("score: the study has no metric or student benchmark records to score (records with strategy \"\" form the ranking)")
	}
	c.teachers()
	c.studentGains()
	rankCells(res.Cells, s.Confidence)
	rankCells(res.ByStrategy, s.Confidence)
	c.finish()
	return res, nil
}

type computer struct {
	st       *Study
	s        Settings
	res      *Result
	excluded map[string]bool
	dirs     map[string]Direction
	selected []string // record metric names in the score, sorted
	// anchors[student|language|benchmark] -> seed -> record
	base, ref  map[string]map[int]BenchmarkRecord
	mainPool   *pool
	mainUnits  map[unitKey]*unit
	mainDiagOK map[string]bool
}

func (c *computer) diag(d Diagnostic) {
	c.res.Diagnostics = append(c.res.Diagnostics, d)
}

func (c *computer) selectMetrics() error {
	c.dirs = map[string]Direction{}
	for i := range c.st.Metrics {
		m := &c.st.Metrics[i]
		if d, ok := c.dirs[m.Metric]; ok && d != m.Direction {
			return fmt.Errorf("score: metric %q has direction %q in one record and %q in another (teacher %q, language %q); give it one direction",
				m.Metric, d, m.Direction, m.Teacher, m.Language)
		}
		c.dirs[m.Metric] = m.Direction
		if IsPerplexity(m.Metric) && (m.Value < 0 || slices.ContainsFunc(m.PerExample, func(v float64) bool { return v < 0 })) {
			return fmt.Errorf("score: perplexity metric %q of teacher %q, language %q, seed %d has a negative value; perplexity is >= 1 by definition, check the metric's output",
				m.Metric, m.Teacher, m.Language, m.Seed)
		}
	}
	names := make([]string, 0, len(c.dirs))
	for n := range c.dirs {
		names = append(names, n)
	}
	sort.Strings(names)
	sel := map[string]bool{}
	if len(c.s.Metrics) == 0 {
		for _, n := range names {
			if c.dirs[n] != None {
				sel[n] = true
			}
		}
	}
	for _, want := range c.s.Metrics {
		found := false
		noneMatch := ""
		for _, n := range names {
			if Selects(want, n) {
				if c.dirs[n] == None {
					if n != want {
						noneMatch = n
						continue // a reported-only value of a selected group (perplexity.median)
					}
					return fmt.Errorf("score: metric %q is in score.metrics but its direction is \"none\"; give it a direction or leave it out", n)
				}
				sel[n] = true
				found = true
			}
		}
		if !found && noneMatch != "" {
			return fmt.Errorf("score: metric %q is in score.metrics but its direction is \"none\"; give it a direction or leave it out", noneMatch)
		}
		if !found {
			return fmt.Errorf("score: score.metrics names %q but no metric record matches it; the data has: %s", want, strings.Join(names, ", "))
		}
	}
	for _, n := range names {
		if sel[n] {
			c.selected = append(c.selected, n)
		}
	}
	return nil
}

func anchorKey(student, language, benchmark string) string {
	return student + "\x00" + language + "\x00" + benchmark
}

func (c *computer) indexBenchmarks() error {
	c.base = map[string]map[int]BenchmarkRecord{}
	c.ref = map[string]map[int]BenchmarkRecord{}
	for _, b := range c.st.Benchmarks {
		var m map[string]map[int]BenchmarkRecord
		switch b.Role {
		case RoleBase:
			m = c.base
		case RoleReference:
			m = c.ref
		default:
			continue
		}
		k := anchorKey(b.Student, b.Language, b.Benchmark)
		if m[k] == nil {
			m[k] = map[int]BenchmarkRecord{}
		}
		if _, dup := m[k][b.Seed]; dup {
			return fmt.Errorf("score: %s score of student %q on %q (%s, seed %d) is given twice; keep one", b.Role, b.Student, b.Benchmark, b.Language, b.Seed)
		}
		m[k][b.Seed] = b
	}
	return nil
}

// anchor returns the anchor score at a seed, or the mean over seeds when that seed is absent.
func anchor(m map[int]BenchmarkRecord, seed int) (float64, bool) {
	if len(m) == 0 {
		return 0, false
	}
	if r, ok := m[seed]; ok {
		return r.Score, true
	}
	var s float64
	for _, r := range m {
		s += r.Score
	}
	return s / float64(len(m)), true
}

func meanSE(m map[int]BenchmarkRecord) (mean, se float64) {
	var ses []float64
	var xs []float64
	for _, r := range m {
		xs = append(xs, r.Score)
		ses = append(ses, r.Stderr*r.Stderr)
	}
	// The SE of a mean of independent seeds' scores.
	return stat.Mean(xs, nil), math.Sqrt(floatsSum(ses)) / float64(len(xs))
}

func floatsSum(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (c *computer) anchorDiagnostics() {
	for _, k := range sortedKeys(c.ref) {
		parts := strings.Split(k, "\x00")
		student, lang, bench := parts[0], parts[1], parts[2]
		b, ok := c.base[k]
		if !ok {
			continue
		}
		rm, rse := meanSE(c.ref[k])
		bm, bse := meanSE(b)
		comb := math.Hypot(rse, bse)
		switch {
		case rm <= bm:
			c.diag(Diagnostic{Severity: "warning", Kind: KindReferenceNotAboveBase, Language: lang, Benchmark: bench, Student: student,
				Message: fmt.Sprintf("%s, %s, student %s: the reference scores %.4g, not above the base (%.4g). PGR's denominator is %s, so a worse student gets a higher PGR on this benchmark; treat its PGR as meaningless or drop the benchmark for this language.",
					lang, bench, student, rm, bm, map[bool]string{true: "zero (the benchmark is skipped)", false: "negative"}[rm == bm])})
		case rm-bm < comb:
			c.diag(Diagnostic{Severity: "warning", Kind: KindAnchorGapWithinNoise, Language: lang, Benchmark: bench, Student: student,
				Message: fmt.Sprintf("%s, %s, student %s: reference − base = %.4g is smaller than its standard error %.4g, so PGR divides by noise and can swing far beyond [0, 1].",
					lang, bench, student, rm-bm, comb)})
		}
	}
	// A benchmark constant across all students of a (student model, language) carries no signal.
	type g struct{ student, lang, bench string }
	vals := map[g]map[string][]float64{}
	for _, b := range c.st.Benchmarks {
		if b.Role != RoleStudent || c.excluded[b.Teacher] {
			continue
		}
		k := g{b.Student, b.Language, b.Benchmark}
		if vals[k] == nil {
			vals[k] = map[string][]float64{}
		}
		id := b.Teacher + "\x00" + b.Strategy
		vals[k][id] = append(vals[k][id], b.Score)
	}
	keys := make([]g, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.student+a.lang+a.bench < b.student+b.lang+b.bench
	})
	for _, k := range keys {
		if len(vals[k]) < 2 {
			continue
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, xs := range vals[k] {
			m := stat.Mean(xs, nil)
			lo, hi = math.Min(lo, m), math.Max(hi, m)
		}
		if hi-lo == 0 {
			c.diag(Diagnostic{Severity: "warning", Kind: KindConstantBenchmark, Language: k.lang, Benchmark: k.bench, Student: k.student,
				Message: fmt.Sprintf("%s, %s, student %s: all %d trained students score exactly %.4g, so this benchmark cannot tell teachers apart; check the evaluation (answer extraction, prompt format) or drop it.",
					k.lang, k.bench, k.student, len(vals[k]), lo)})
		}
	}
}

// level scores one level (the ranking, or the named strategies) from the records the filters keep.
func (c *computer) level(keepM func(*MetricRecord) bool, keepB func(*BenchmarkRecord) bool) ([]CellScore, error) {
	units := map[unitKey]*unit{}
	get := func(k unitKey) *unit {
		u := units[k]
		if u == nil {
			u = &unit{key: k, metrics: map[string]*MetricRecord{}}
			units[k] = u
		}
		return u
	}
	for i := range c.st.Metrics {
		m := &c.st.Metrics[i]
		if !keepM(m) {
			continue
		}
		u := get(unitKey{m.Teacher, m.Language, m.Strategy, m.Seed})
		if _, dup := u.metrics[m.Metric]; dup {
			return nil, fmt.Errorf("score: metric %q of teacher %q, language %q, strategy %q, seed %d is given twice; keep one", m.Metric, m.Teacher, m.Language, m.Strategy, m.Seed)
		}
		u.metrics[m.Metric] = m
	}
	if err := c.extrinsic(units, keepB, get); err != nil {
		return nil, err
	}
	if len(units) == 0 {
		return nil, nil
	}
	p := c.pooling(units)
	isMain := c.mainPool == nil
	if isMain {
		c.mainPool, c.mainUnits = p, units
	}
	return c.cells(units, p, isMain), nil
}

// extrinsic fills each unit's Extrinsic from the student records (docs/method.md §4).
func (c *computer) extrinsic(units map[unitKey]*unit, keepB func(*BenchmarkRecord) bool, get func(unitKey) *unit) error {
	// unit -> student -> benchmark -> score
	type sb = map[string]map[string]float64
	scores := map[unitKey]sb{}
	for i := range c.st.Benchmarks {
		b := &c.st.Benchmarks[i]
		if b.Role != RoleStudent || !keepB(b) {
			continue
		}
		k := unitKey{b.Teacher, b.Language, b.Strategy, b.Seed}
		if scores[k] == nil {
			scores[k] = sb{}
		}
		if scores[k][b.Student] == nil {
			scores[k][b.Student] = map[string]float64{}
		}
		if _, dup := scores[k][b.Student][b.Benchmark]; dup {
			return fmt.Errorf("score: student %q trained on teacher %q (%s, strategy %q, seed %d) has two scores on %q; keep one",
				b.Student, b.Teacher, b.Language, b.Strategy, b.Seed, b.Benchmark)
		}
		scores[k][b.Student][b.Benchmark] = b.Score
	}
	reported := map[string]bool{}
	for k, students := range scores {
		u := get(k)
		u.pgrByB = map[string][]float64{}
		u.byStudent = map[string]float64{}
		var exs []float64
		for _, student := range sortedKeys(students) {
			var S, B, R []float64
			var ratios []float64
			for _, bench := range sortedKeys(students[student]) {
				ak := anchorKey(student, k.Language, bench)
				bv, okb := anchor(c.base[ak], k.Seed)
				rv, okr := anchor(c.ref[ak], k.Seed)
				if !okb || !okr {
					if !reported[ak] {
						reported[ak] = true
						c.diag(Diagnostic{Severity: "warning", Kind: KindMissingAnchor, Language: k.Language, Benchmark: bench, Student: student,
							Message: fmt.Sprintf("%s, %s, student %s: no %s score, so PGR cannot be computed on this benchmark; add benchmark records with role \"base\" and \"reference\".",
								k.Language, bench, student, map[bool]string{true: "reference", false: "base"}[okb])})
					}
					continue
				}
				sv := students[student][bench]
				S, B, R = append(S, sv), append(B, bv), append(R, rv)
				if rv != bv {
					r := (sv - bv) / (rv - bv)
					ratios = append(ratios, r)
					u.pgrByB[bench] = append(u.pgrByB[bench], r)
				}
			}
			var e float64
			ok := false
			switch c.s.PGR {
			case RatioThenMean:
				if len(ratios) > 0 {
					e, ok = stat.Mean(ratios, nil), true
				}
			case MeanThenRatio:
				if len(S) > 0 {
					ms, mb, mr := stat.Mean(S, nil), stat.Mean(B, nil), stat.Mean(R, nil)
					if mr != mb {
						e, ok = (ms-mb)/(mr-mb), true
					}
				}
			}
			if ok {
				u.byStudent[student] = e
				exs = append(exs, e)
			}
		}
		if len(exs) > 0 {
			u.hasEx, u.ex = true, stat.Mean(exs, nil)
		}
	}
	return nil
}

// pooling computes z-score parameters over the units and each unit's Intrinsic and PG.
func (c *computer) pooling(units map[unitKey]*unit) *pool {
	p := &pool{mean: map[string]float64{}, sd: map[string]float64{}}
	isMain := c.mainPool == nil
	ordered := sortedUnits(units)
	for _, name := range c.selected {
		var xs []float64
		for _, u := range ordered {
			if m, ok := u.metrics[name]; ok {
				xs = append(xs, Orient(name, m.Direction, m.Value))
			}
		}
		if len(xs) == 0 {
			continue
		}
		mean, sd := stat.PopMeanStdDev(xs, nil)
		if len(xs) == 1 {
			sd = 0
		}
		p.mean[name], p.sd[name] = mean, sd
		if sd == 0 && isMain {
			c.diag(Diagnostic{Severity: "warning", Kind: KindMetricNoSpread, Metric: name,
				Message: fmt.Sprintf("metric %s has the same value (%.4g) in all %d cells, so its z-score is undefined; it counts as 0 and cannot separate teachers. Check that the metric ran, or leave it out of score.metrics.", name, firstValue(units, name), len(xs))})
		}
		if isMain {
			c.res.Metrics = append(c.res.Metrics, MetricStat{Metric: name, Direction: c.dirs[name], Transform: transform(name, c.dirs[name]),
				InScore: true, Mean: mean, SD: sd, Units: len(xs)})
		}
	}
	if isMain {
		for _, name := range sortedKeys(c.dirs) {
			if !slices.Contains(c.selected, name) {
				c.res.Metrics = append(c.res.Metrics, MetricStat{Metric: name, Direction: c.dirs[name], Transform: transform(name, c.dirs[name])})
			}
		}
	}
	var ins []float64
	for _, u := range ordered {
		if v, ok := c.intrinsicRaw(u, p, nil); ok {
			u.hasIn, u.in = true, v
			ins = append(ins, v)
		}
	}
	if c.s.Standardize == Restandardized && len(ins) > 0 {
		p.inMean, p.inSD = stat.PopMeanStdDev(ins, nil)
		for _, u := range units {
			if u.hasIn {
				u.in = p.restd(u.in)
			}
		}
	}
	return p
}

// sortedUnits orders units so that floating-point sums do not depend on map order.
func sortedUnits(units map[unitKey]*unit) []*unit {
	out := make([]*unit, 0, len(units))
	for _, u := range units {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].key, out[j].key
		if a.Teacher != b.Teacher {
			return a.Teacher < b.Teacher
		}
		if a.Language != b.Language {
			return a.Language < b.Language
		}
		if a.Strategy != b.Strategy {
			return a.Strategy < b.Strategy
		}
		return a.Seed < b.Seed
	})
	return out
}

func firstValue(units map[unitKey]*unit, name string) float64 {
	for _, u := range units {
		if m, ok := u.metrics[name]; ok {
			return m.Value
		}
	}
	return 0
}

func (p *pool) z(name string, oriented float64) float64 {
	if p.sd[name] == 0 {
		return 0
	}
	return (oriented - p.mean[name]) / p.sd[name]
}

func (p *pool) restd(v float64) float64 {
	if p.inSD == 0 {
		return 0
	}
	return (v - p.inMean) / p.inSD
}

// intrinsicRaw is the mean z over the selected metrics a unit has (before any
// re-standardisation). value, when not nil, overrides a metric's raw value (bootstrap).
func (c *computer) intrinsicRaw(u *unit, p *pool, value func(*MetricRecord) float64) (float64, bool) {
	var sum float64
	n := 0
	for _, name := range c.selected {
		m, ok := u.metrics[name]
		if !ok {
			continue
		}
		v := m.Value
		if value != nil {
			v = value(m)
		}
		sum += p.z(name, Orient(name, m.Direction, v))
		n++
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

func (c *computer) cells(units map[unitKey]*unit, p *pool, isMain bool) []CellScore {
	groups := map[cellKey][]*unit{}
	for _, u := range units {
		groups[u.key.cell()] = append(groups[u.key.cell()], u)
	}
	keys := make([]cellKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Language != b.Language {
			return a.Language < b.Language
		}
		if a.Strategy != b.Strategy {
			return a.Strategy < b.Strategy
		}
		return a.Teacher < b.Teacher
	})
	out := make([]CellScore, 0, len(keys))
	var plans []*bootPlan
	var outs [][]float64
	for _, k := range keys {
		us := groups[k]
		sort.Slice(us, func(i, j int) bool { return us[i].key.Seed < us[j].key.Seed })
		cs := CellScore{Teacher: k.Teacher, Language: k.Language, Strategy: k.Strategy,
			Raw: map[string]float64{}, Z: map[string]float64{}, PGR: map[string]float64{}}
		var ins, exs, pgs []float64
		raw := map[string][]float64{}
		zs := map[string][]float64{}
		pgr := map[string][]float64{}
		for _, u := range us {
			for name, m := range u.metrics {
				raw[name] = append(raw[name], m.Value)
				if _, ok := p.sd[name]; ok && slices.Contains(c.selected, name) {
					zs[name] = append(zs[name], p.z(name, Orient(name, m.Direction, m.Value)))
				}
			}
			for b, rs := range u.pgrByB {
				pgr[b] = append(pgr[b], rs...)
			}
			if !u.hasIn && !u.hasEx {
				continue
			}
			pg := combine(c.s.Alpha, u.in, u.ex, u.hasIn, u.hasEx)
			cs.Seeds = append(cs.Seeds, SeedScore{Seed: u.key.Seed, Intrinsic: u.in, Extrinsic: u.ex, PG: pg})
			pgs = append(pgs, pg)
			if u.hasIn {
				ins = append(ins, u.in)
			}
			if u.hasEx {
				exs = append(exs, u.ex)
			}
		}
		for n, v := range raw {
			cs.Raw[n] = stat.Mean(v, nil)
		}
		for n, v := range zs {
			cs.Z[n] = stat.Mean(v, nil)
		}
		for n, v := range pgr {
			cs.PGR[n] = stat.Mean(v, nil)
		}
		if len(pgs) == 0 {
			continue
		}
		cs.HasIntrinsic, cs.HasExtrinsic = len(ins) > 0, len(exs) > 0
		if cs.HasIntrinsic {
			cs.Intrinsic = stat.Mean(ins, nil)
		}
		if cs.HasExtrinsic {
			cs.Extrinsic = stat.Mean(exs, nil)
		}
		cs.PG = stat.Mean(pgs, nil)
		if isMain || k.Strategy != "" {
			c.cellDiagnostics(&cs, us)
		}
		cs.SeedCI = tInterval(pgs, c.s.Confidence)
		if bp := c.bootPlan(us, p); bp != nil {
			cs.boot = make([]float64, bp.replicates)
			plans, outs = append(plans, bp), append(outs, cs.boot)
		}
		out = append(out, cs)
	}
	// The cells' replicates are drawn on every core; each block of replicates has its
	// own stream, so they are the same for any number of cores.
	runBoot(plans, outs, bootWorkers())
	for i := range out {
		cs := &out[i]
		cs.BootCI = percentile(cs.boot, c.s.Confidence)
		cs.CI = cs.SeedCI
		if cs.CI == nil {
			cs.CI = cs.BootCI
		}
	}
	return out
}

// bootWorkers is how many goroutines draw bootstrap replicates; tests set it to 1 to
// compare the parallel draw with a sequential one.
var bootWorkers = func() int { return runtime.GOMAXPROCS(0) }

func (c *computer) cellDiagnostics(cs *CellScore, us []*unit) {
	for _, name := range c.selected {
		missing := 0
		for _, u := range us {
			if _, ok := u.metrics[name]; !ok {
				missing++
			}
		}
		if missing > 0 && missing < len(us) || (missing == len(us) && cs.HasIntrinsic) {
			c.diag(Diagnostic{Severity: "warning", Kind: KindMissingMetric, Teacher: cs.Teacher, Language: cs.Language, Strategy: cs.Strategy, Metric: name,
				Message: fmt.Sprintf("%s/%s%s: metric %s is missing for %d of %d seeds; Intrinsic there is the mean over the metrics present, which is not comparable with complete cells.",
					cs.Teacher, cs.Language, strategySuffix(cs.Strategy), name, missing, len(us))})
		}
	}
	needIn, needEx := c.s.Alpha > 0, c.s.Alpha < 1
	if (needIn && !cs.HasIntrinsic) || (needEx && !cs.HasExtrinsic) {
		what := "extrinsic (student benchmark) results"
		if !cs.HasIntrinsic {
			what = "intrinsic metrics"
		}
		c.diag(Diagnostic{Severity: "warning", Kind: KindIncompleteCell, Teacher: cs.Teacher, Language: cs.Language, Strategy: cs.Strategy,
			Message: fmt.Sprintf("%s/%s%s has no %s, so its PG-Score is the other component alone and is not comparable with complete cells.",
				cs.Teacher, cs.Language, strategySuffix(cs.Strategy), what)})
	}
}

func strategySuffix(s string) string {
	if s == "" {
		return ""
	}
	return " (strategy " + s + ")"
}

// controlCells scores the negative controls and their reference data with the ranking's
// pooling parameters, so that their values are on the same scale as the teachers'.
func (c *computer) controlCells() ([]CellScore, error) {
	units := map[unitKey]*unit{}
	for i := range c.st.Metrics {
		m := &c.st.Metrics[i]
		if !c.excluded[m.Teacher] || m.Strategy != "" {
			continue
		}
		k := unitKey{m.Teacher, m.Language, "", m.Seed}
		u := units[k]
		if u == nil {
			u = &unit{key: k, metrics: map[string]*MetricRecord{}}
			units[k] = u
		}
		if _, dup := u.metrics[m.Metric]; dup {
			return nil, fmt.Errorf("score: metric %q of control/reference %q, language %q, seed %d is given twice; keep one", m.Metric, m.Teacher, m.Language, m.Seed)
		}
		u.metrics[m.Metric] = m
	}
	p := c.mainPool
	if p == nil {
		p = &pool{mean: map[string]float64{}, sd: map[string]float64{}}
	}
	for _, u := range units {
		if v, ok := c.intrinsicRaw(u, p, nil); ok {
			u.hasIn, u.in = true, v
			if c.s.Standardize == Restandardized {
				u.in = p.restd(v)
			}
		}
	}
	saved := c.s.Bootstrap
	c.s.Bootstrap = 0 // controls are checked on point values; no CI needed
	defer func() { c.s.Bootstrap = saved }()
	return c.cells(units, p, false), nil
}

func (c *computer) teachers() {
	byT := map[string][]*CellScore{}
	langs := map[string]bool{}
	strats := map[string]bool{}
	for i := range c.res.Cells {
		cs := &c.res.Cells[i]
		byT[cs.Teacher] = append(byT[cs.Teacher], cs)
		langs[cs.Language] = true
	}
	for _, cs := range c.res.ByStrategy {
		strats[cs.Strategy] = true
		langs[cs.Language] = true
	}
	c.res.Languages = sortedKeys(langs)
	c.res.Strategies = sortedKeys(strats)
	allLangs := map[string]bool{}
	for _, cs := range c.res.Cells {
		allLangs[cs.Language] = true
	}
	for _, t := range sortedKeys(byT) {
		cells := byT[t]
		ts := TeacherScore{Teacher: t, Family: c.st.Teacher(t).Family}
		var ins, exs, pgs []float64
		seedPG := map[int][]float64{}
		seedIn := map[int][]float64{}
		seedEx := map[int][]float64{}
		for _, cs := range cells {
			ts.Languages = append(ts.Languages, cs.Language)
			pgs = append(pgs, cs.PG)
			if cs.HasIntrinsic {
				ins = append(ins, cs.Intrinsic)
			}
			if cs.HasExtrinsic {
				exs = append(exs, cs.Extrinsic)
			}
			for _, s := range cs.Seeds {
				seedPG[s.Seed] = append(seedPG[s.Seed], s.PG)
				seedIn[s.Seed] = append(seedIn[s.Seed], s.Intrinsic)
				seedEx[s.Seed] = append(seedEx[s.Seed], s.Extrinsic)
			}
		}
		ts.PG = stat.Mean(pgs, nil)
		if len(ins) > 0 {
			ts.Intrinsic = stat.Mean(ins, nil)
		}
		if len(exs) > 0 {
			ts.Extrinsic = stat.Mean(exs, nil)
		}
		// A seed counts for the teacher only if every language has it, so each seed's mean
		// covers the same languages as the point estimate.
		var seeds []int
		for s, v := range seedPG {
			if len(v) == len(cells) {
				seeds = append(seeds, s)
			}
		}
		sort.Ints(seeds)
		var perSeed []float64
		for _, s := range seeds {
			ts.Seeds = append(ts.Seeds, SeedScore{Seed: s, PG: stat.Mean(seedPG[s], nil), Intrinsic: stat.Mean(seedIn[s], nil), Extrinsic: stat.Mean(seedEx[s], nil)})
			perSeed = append(perSeed, stat.Mean(seedPG[s], nil))
		}
		ts.SeedCI = tInterval(perSeed, c.s.Confidence)
		if nb := len(cells[0].boot); nb > 0 {
			all := true
			for _, cs := range cells {
				all = all && len(cs.boot) == nb
			}
			if all {
				ts.boot = make([]float64, nb)
				for r := range nb {
					var s float64
					for _, cs := range cells {
						s += cs.boot[r]
					}
					ts.boot[r] = s / float64(len(cells))
				}
				ts.BootCI = percentile(ts.boot, c.s.Confidence)
			}
		}
		ts.CI = ts.SeedCI
		if ts.CI == nil {
			ts.CI = ts.BootCI
		}
		if len(cells) < len(allLangs) {
			var miss []string
			for _, l := range sortedKeys(allLangs) {
				if !slices.Contains(ts.Languages, l) {
					miss = append(miss, l)
				}
			}
			c.diag(Diagnostic{Severity: "warning", Kind: KindMissingLanguage, Teacher: t,
				Message: fmt.Sprintf("teacher %s has no scores for %s, so its overall PG-Score averages fewer languages than the others'.", t, strings.Join(miss, ", "))})
		}
		c.res.Teachers = append(c.res.Teachers, ts)
	}
	rankTeachers(c.res.Teachers, c.s.Confidence)
}

func (c *computer) studentGains() {
	type k struct{ t, l, s string }
	vals := map[k][]float64{}
	for _, u := range sortedUnits(c.mainUnits) {
		for s, v := range u.byStudent {
			kk := k{u.key.Teacher, u.key.Language, s}
			vals[kk] = append(vals[kk], v)
		}
	}
	fam := map[string]string{}
	for _, b := range c.st.Benchmarks {
		if b.StudentFamily != "" {
			fam[b.Student] = b.StudentFamily
		}
	}
	for kk, v := range vals {
		f := fam[kk.s]
		if f == "" {
			f = kk.s
		}
		c.res.Students = append(c.res.Students, StudentGain{Teacher: kk.t, TeacherFamily: c.st.Teacher(kk.t).Family,
			Language: kk.l, Student: kk.s, StudentFamily: f, PGR: stat.Mean(v, nil)})
	}
	sort.Slice(c.res.Students, func(i, j int) bool {
		a, b := c.res.Students[i], c.res.Students[j]
		return a.Teacher+"\x00"+a.Language+"\x00"+a.Student < b.Teacher+"\x00"+b.Language+"\x00"+b.Student
	})
}

func (c *computer) finish() {
	sort.SliceStable(c.res.Diagnostics, func(i, j int) bool {
		a, b := c.res.Diagnostics[i], c.res.Diagnostics[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Message < b.Message
	})
}

// coverage sums the generation records per ranking cell (all strategies) and per
// strategy cell, records them in the result, and returns the cells below the minimums.
// A cell ranked from 1 example out of 20 requested would otherwise look as good as
// any other.
func (c *computer) coverage() map[cellKey]bool {
	type acc struct {
		ex, fail int
		reasons  map[string]int
	}
	cells := map[cellKey]*acc{}
	get := func(k cellKey) *acc {
		a := cells[k]
		if a == nil {
			a = &acc{reasons: map[string]int{}}
			cells[k] = a
		}
		return a
	}
	for _, g := range c.st.Generation {
		if c.excluded[g.Teacher] {
			continue
		}
		keys := []cellKey{{g.Teacher, g.Language, ""}}
		if g.Strategy != "" {
			keys = append(keys, cellKey{g.Teacher, g.Language, g.Strategy})
		}
		for _, k := range keys {
			a := get(k)
			a.ex += g.Examples
			a.fail += g.Failures
			for r, n := range g.Reasons {
				a.reasons[r] += n
			}
		}
	}
	unranked := map[cellKey]bool{}
	keys := make([]cellKey, 0, len(cells))
	for k := range cells {
		keys = append(keys, k)
	}
	// Ranking cells first, so that a strategy cell of an unranked teacher and language
	// is not reported twice.
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if (a.Strategy == "") != (b.Strategy == "") {
			return a.Strategy == ""
		}
		return a.Teacher+"\x00"+a.Language+"\x00"+a.Strategy < b.Teacher+"\x00"+b.Language+"\x00"+b.Strategy
	})
	for _, k := range keys {
		a := cells[k]
		quiet := k.Strategy != "" && unranked[cellKey{k.Teacher, k.Language, ""}]
		asked := a.ex + a.fail
		if asked == 0 {
			continue
		}
		cg := CellGeneration{Teacher: k.Teacher, Language: k.Language, Strategy: k.Strategy, Examples: a.ex, Failures: a.fail,
			Share: float64(a.ex) / float64(asked), Ranked: true}
		for _, r := range sortedKeys(a.reasons) {
			cg.TopReasons = append(cg.TopReasons, ReasonCount{r, a.reasons[r]})
		}
		sort.SliceStable(cg.TopReasons, func(i, j int) bool { return cg.TopReasons[i].Count > cg.TopReasons[j].Count })
		cg.TopReasons = cg.TopReasons[:min(3, len(cg.TopReasons))]
		why := ""
		for i, r := range cg.TopReasons {
			if i > 0 {
				why += ", "
			}
			why += fmt.Sprintf("%s ×%d", r.Reason, r.Count)
		}
		if why != "" {
			why = " (top reasons: " + why + ")"
		}
		switch {
		case a.ex < min(c.s.MinExamples, asked) || cg.Share < c.s.MinExampleShare:
			cg.Ranked = false
			unranked[k] = true
			if quiet {
				break
			}
			c.diag(Diagnostic{Severity: "warning", Kind: KindTooFewExamples, Teacher: k.Teacher, Language: k.Language, Strategy: k.Strategy,
				Message: fmt.Sprintf("%s/%s%s generated %d of %d requested examples (%.0f %%)%s; below the minimum (%d examples and %.0f %%), so it is not ranked. Fix the failures and run again, or lower score.min_examples / min_example_share.",
					k.Teacher, k.Language, strategySuffix(k.Strategy), a.ex, asked, 100*cg.Share, why, c.s.MinExamples, 100*c.s.MinExampleShare)})
		case cg.Share < 0.9 && !quiet:
			c.diag(Diagnostic{Severity: "warning", Kind: KindGenerationFailures, Teacher: k.Teacher, Language: k.Language, Strategy: k.Strategy,
				Message: fmt.Sprintf("%s/%s%s generated %d of %d requested examples (%.0f %%)%s; it is ranked on what succeeded, which may not represent the teacher.",
					k.Teacher, k.Language, strategySuffix(k.Strategy), a.ex, asked, 100*cg.Share, why)})
		}
		c.res.Generation = append(c.res.Generation, cg)
	}
	sort.Slice(c.res.Generation, func(i, j int) bool {
		a, b := c.res.Generation[i], c.res.Generation[j]
		if a.Share != b.Share {
			return a.Share < b.Share
		}
		return a.Teacher+"\x00"+a.Language+"\x00"+a.Strategy < b.Teacher+"\x00"+b.Language+"\x00"+b.Strategy
	})
	return unranked
}

// cellSeed derives a per-cell RNG stream so that each cell's bootstrap does not depend on
// the order in which cells are processed.
func cellSeed(k cellKey) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s", k.Teacher, k.Language, k.Strategy)
	return h.Sum64()
}
