// Package live computes what `polyglot ui` shows of a running or finished
// study beyond `status`: spend against budgets and the plan's estimates,
// GPU-hours, progress per cell, metric values as they land, a provisional
// ranking and the example browser's pages.
//
// Everything is read from the store through its read-only handle (WAL
// readers never block the run's writer). What is cheap (running totals,
// aggregates without their per-example values, units, jobs) is read on
// every poll; what is not (the provisional ranking, the example browser's
// examples) is computed off the poll path and cached against a fingerprint
// of the results it reads, so a poll never waits for a bootstrap.
package live

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// RankingBootstrap caps the provisional ranking's bootstrap resamples: the
// spec's 1,000 cost minutes at the paper's scale, and the ranking is
// recomputed as results land. With two or more seeds the intervals shown
// are over seeds and do not depend on it.
const RankingBootstrap = 200

// View follows one store. Its methods are safe for concurrent use.
type View struct {
	st  *store.Store
	now func() time.Time

	mu         sync.Mutex
	p          *engine.Prepared // nil until SetPrepared
	prepErr    string
	rank       Ranking
	rankFP     string // the fingerprint rank reflects
	rankBusy   bool
	rankNext   time.Time // no recomputation before (throttle)
	ex         *exampleSet
	exFP       string
	exMu       sync.Mutex // one examples computation at a time
	background sync.WaitGroup
}

// New returns a view of st; the plan arrives later through SetPrepared
// (binding the plugins takes a while, and status needs none of it).
func New(st *store.Store) *View {
	return &View{st: st, now: time.Now, rank: Ranking{Provisional: true, State: "preparing"}}
}

// SetPrepared gives the view the spec's plan, or the error preparing it
// ended with (the view then shows what needs no plan).
func (v *View) SetPrepared(p *engine.Prepared, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.prepErr = err.Error()
		v.rank = Ranking{Provisional: true, State: "error", Error: "cannot load the plan: " + err.Error()}
		return
	}
	v.p = p
	v.rank = Ranking{Provisional: true, State: "waiting"}
}

// Wait waits for background computations (tests, shutdown).
func (v *View) Wait() { v.background.Wait() }

// Snapshot is the live view's data beyond `status --json`.
type Snapshot struct {
	Plan     string    `json:"plan"` // "ready", "preparing" or the error
	At       time.Time `json:"at"`
	Budget   Budget    `json:"budget"`
	GPU      GPU       `json:"gpu"`
	Cells    []Cell    `json:"cells"`
	Metrics  Metrics   `json:"metrics"`
	Ranking  Ranking   `json:"ranking"`
	Examples string    `json:"examples_version"` // changes when the example browser has new data
}

// Budget is spend against the spec's caps and the plan's estimates.
type Budget struct {
	CapUSD   *float64        `json:"cap_usd"` // experiment.budget_usd; nil = no cap
	SpentUSD float64         `json:"spent_usd"`
	Teachers []TeacherBudget `json:"teachers"`
}

// TeacherBudget is one teacher's generation so far against its plan.
type TeacherBudget struct {
	Teacher         string   `json:"teacher"`
	CapUSD          *float64 `json:"cap_usd"` // limits.budget_usd; nil = no cap
	SpentUSD        float64  `json:"spent_usd"`
	PlannedUSD      float64  `json:"planned_usd"` // the plan's estimate
	Requests        int      `json:"requests"`    // answered (kept) plus failed for good
	PlannedRequests int      `json:"planned_requests"`
	CachedCalls     int64    `json:"cached_calls"`
	InputTokens     int64    `json:"input_tokens"`
	OutputTokens    int64    `json:"output_tokens"`
	PlannedIn       int64    `json:"planned_input_tokens"`
	PlannedOut      int64    `json:"planned_output_tokens"`
}

// GPU is the GPU time training and evaluation jobs held, as the store
// records it (store.Job).
type GPU struct {
	Hours    float64      `json:"hours"`
	Jobs     int          `json:"jobs"`
	Running  int          `json:"running"`
	Students []StudentGPU `json:"students"`
}

// StudentGPU is one student's share.
type StudentGPU struct {
	Student string  `json:"student"`
	Hours   float64 `json:"hours"`
	Jobs    int     `json:"jobs"`
	Running int     `json:"running"`
}

// Cell is the progress of one teacher × language cell through the stages.
type Cell struct {
	Teacher  string       `json:"teacher"`
	Language string       `json:"language"`
	Stages   []StageCount `json:"stages"`
	Done     int          `json:"done"`
	Failed   int          `json:"failed"`
	Total    int          `json:"total"`
	Complete bool         `json:"complete"`
	byStage  map[string]int
}

// StageCount is a cell's units in one stage.
type StageCount struct {
	Stage  string `json:"stage"`
	Done   int    `json:"done"`
	Failed int    `json:"failed"`
	Total  int    `json:"total"`
}

// Metrics are the metric values per cell as they land.
type Metrics struct {
	Names []string    `json:"names"`
	Rows  []MetricRow `json:"rows"`
}

// MetricRow is one cell and seed's values; nil = not measured yet.
type MetricRow struct {
	Teacher  string              `json:"teacher"`
	Language string              `json:"language"`
	Strategy string              `json:"strategy"`
	Seed     int                 `json:"seed"`
	Values   map[string]*float64 `json:"values"`
	N        map[string]int      `json:"n"`
}

// Ranking is the provisional ranking of what the store holds.
type Ranking struct {
	Provisional bool      `json:"provisional"`
	State       string    `json:"state"` // preparing | waiting | computing | ready | error
	Error       string    `json:"error,omitempty"`
	AsOf        time.Time `json:"as_of,omitzero"`       // when its data was read
	Seconds     float64   `json:"seconds,omitempty"`    // how long it took
	Stale       bool      `json:"stale"`                // newer results are being scored
	Bootstrap   int       `json:"bootstrap,omitempty"`  // resamples behind bootstrap intervals
	Confidence  float64   `json:"confidence,omitempty"` // of the intervals
	Teachers    []RankRow `json:"teachers"`
	Cells       []RankRow `json:"cells"`
}

// RankRow is a teacher's (or a teacher × language cell's) provisional score.
type RankRow struct {
	Rank      int      `json:"rank"`
	Teacher   string   `json:"teacher"`
	Language  string   `json:"language,omitempty"`
	PG        *float64 `json:"pg"`
	Lo        *float64 `json:"lo"`
	Hi        *float64 `json:"hi"`
	Method    string   `json:"method,omitempty"`
	Standing  string   `json:"standing"`
	Languages int      `json:"languages,omitempty"`
	Complete  bool     `json:"complete"` // every unit of its cells is done
}

// Snapshot reads the store now. sum is the status summary the caller
// already read (the same figures `status --json` prints).
func (v *View) Snapshot(sum *store.Summary) (*Snapshot, error) {
	v.mu.Lock()
	p, prepErr := v.p, v.prepErr
	v.mu.Unlock()
	now := v.now()
	out := &Snapshot{At: now.UTC(), Plan: "ready", Cells: []Cell{}}
	switch {
	case prepErr != "":
		out.Plan = prepErr
	case p == nil:
		out.Plan = "preparing"
	}
	out.Budget = budget(p, sum)
	jobs, err := v.st.Jobs()
	if err != nil {
		return nil, err
	}
	out.GPU = gpu(jobs, now)
	aggs, err := v.st.MetricAggregateValues()
	if err != nil {
		return nil, err
	}
	out.Metrics = metrics(p, aggs)
	evs, err := v.st.Evals()
	if err != nil {
		return nil, err
	}
	fp := fingerprint(aggs, evs)
	out.Examples = fingerprint(aggs, nil)
	var complete map[[2]string]bool
	if p != nil {
		units, err := v.st.Units("")
		if err != nil {
			return nil, err
		}
		out.Cells, complete = cells(p, units)
		v.maybeRank(p, fp, complete)
	}
	v.mu.Lock()
	out.Ranking = v.rank
	v.mu.Unlock()
	// Completeness changes without new results (a failed unit); mark it now.
	out.Ranking.Teachers = markComplete(out.Ranking.Teachers, complete, out.Cells)
	out.Ranking.Cells = markComplete(out.Ranking.Cells, complete, out.Cells)
	return out, nil
}

func budget(p *engine.Prepared, sum *store.Summary) Budget {
	b := Budget{SpentUSD: sum.Total.CostUSD, Teachers: []TeacherBudget{}}
	at := map[string]int{}
	row := func(name string) *TeacherBudget {
		i, ok := at[name]
		if !ok {
			i = len(b.Teachers)
			at[name] = i
			b.Teachers = append(b.Teachers, TeacherBudget{Teacher: name})
		}
		return &b.Teachers[i]
	}
	if p != nil {
		b.CapUSD = p.Exp.BudgetUSD
		for _, t := range p.Teachers {
			r := row(t.Name)
			if t.Spec != nil {
				r.CapUSD = t.Spec.Limits.BudgetUSD
			}
		}
		for _, u := range p.Plan.Units {
			if u.Stage == plan.Generate && u.Teacher != "" {
				r := row(u.Teacher)
				r.PlannedRequests += u.Requests
				r.PlannedIn += u.EstInputTokens
				r.PlannedOut += u.EstOutputTokens
				r.PlannedUSD += u.EstCostUSD
			}
		}
	}
	for _, c := range sum.Cells {
		r := row(c.Teacher)
		r.SpentUSD += c.CostUSD
		r.Requests += c.Examples + c.Failures
		r.CachedCalls += c.CachedCalls
		r.InputTokens += c.InputTokens
		r.OutputTokens += c.OutputTokens
	}
	return b
}

func gpu(jobs []store.Job, now time.Time) GPU {
	g := GPU{Students: []StudentGPU{}}
	at := map[string]int{}
	for _, j := range jobs {
		i, ok := at[j.Student]
		if !ok {
			i = len(g.Students)
			at[j.Student] = i
			g.Students = append(g.Students, StudentGPU{Student: j.Student})
		}
		s := &g.Students[i]
		h := j.GPUHours(now)
		running := j.Ended.IsZero()
		g.Hours += h
		g.Jobs++
		s.Hours += h
		s.Jobs++
		if running {
			g.Running++
			s.Running++
		}
	}
	return g
}

// metrics lays the aggregates out per cell and seed, one column per metric
// value the plan's metric blocks declare (all of them before the plan is
// loaded).
func metrics(p *engine.Prepared, aggs []store.MetricAggregate) Metrics {
	m := Metrics{Names: []string{}, Rows: []MetricRow{}}
	keep := func(string) bool { return true }
	if p != nil {
		declared := map[string]bool{}
		for name, c := range p.Bound.Metrics {
			declared[name] = true
			if c.Info.Metric != nil {
				for _, val := range c.Info.Metric.Values {
					declared[name+"."+val] = true
				}
			}
		}
		keep = func(n string) bool { return declared[n] }
	}
	names := map[string]bool{}
	type key struct {
		t, l, s string
		seed    int
	}
	at := map[key]int{}
	for _, a := range aggs {
		if !keep(a.Metric) {
			continue
		}
		names[a.Metric] = true
		k := key{a.Teacher, a.Language, a.Strategy, a.Seed}
		i, ok := at[k]
		if !ok {
			i = len(m.Rows)
			at[k] = i
			m.Rows = append(m.Rows, MetricRow{Teacher: a.Teacher, Language: a.Language, Strategy: a.Strategy, Seed: a.Seed,
				Values: map[string]*float64{}, N: map[string]int{}})
		}
		m.Rows[i].Values[a.Metric] = finite(a.Value)
		m.Rows[i].N[a.Metric] = a.N
	}
	for n := range names {
		m.Names = append(m.Names, n)
	}
	sort.Strings(m.Names)
	sort.SliceStable(m.Rows, func(i, j int) bool {
		a, b := m.Rows[i], m.Rows[j]
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
	return m
}

// cells counts each teacher × language cell's units by stage; a cell is
// complete when every one of its units is done.
func cells(p *engine.Prepared, units []store.Unit) ([]Cell, map[[2]string]bool) {
	state := make(map[string]string, len(units))
	for _, u := range units {
		state[u.Key] = u.State
	}
	var out []Cell
	at := map[[2]string]int{}
	for _, u := range p.Plan.Units {
		if u.Teacher == "" || u.Language == "" {
			continue
		}
		k := [2]string{u.Teacher, u.Language}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, Cell{Teacher: u.Teacher, Language: u.Language, byStage: map[string]int{}})
		}
		c := &out[i]
		j, ok := c.byStage[string(u.Stage)]
		if !ok {
			j = len(c.Stages)
			c.byStage[string(u.Stage)] = j
			c.Stages = append(c.Stages, StageCount{Stage: string(u.Stage)})
		}
		sc := &c.Stages[j]
		sc.Total++
		c.Total++
		switch state[u.Key] {
		case store.Done:
			sc.Done++
			c.Done++
		case store.Failed:
			sc.Failed++
			c.Failed++
		}
	}
	complete := map[[2]string]bool{}
	for i := range out {
		out[i].Complete = out[i].Done == out[i].Total
		complete[[2]string{out[i].Teacher, out[i].Language}] = out[i].Complete
	}
	return out, complete
}

// fingerprint changes whenever a result the ranking reads changes: it
// hashes every metric aggregate's name, cell, value, count and standard
// error, and every evaluation's score. Generation totals are left out
// although they decide which cells are ranked: a cell's totals are final
// once its generate unit is done, which is before its metric values land,
// so counting them would only rescore the store at every poll while data
// is generated.
func fingerprint(aggs []store.MetricAggregate, evs []store.Eval) string {
	h := fnv.New64a()
	var buf []byte
	str := func(s string) { buf = append(append(buf, s...), 0) }
	num := func(x uint64) { buf = binary.LittleEndian.AppendUint64(buf, x) }
	for _, a := range aggs {
		buf = buf[:0]
		str(a.Metric)
		str(a.Teacher)
		str(a.Language)
		str(a.Strategy)
		num(uint64(a.Seed))
		num(math.Float64bits(a.Value))
		num(uint64(a.N))
		num(math.Float64bits(a.Stderr))
		h.Write(buf)
	}
	for _, e := range evs {
		buf = buf[:0]
		for _, s := range []string{e.Role, e.Student, e.Teacher, e.Strategy, e.Language, e.Benchmark} {
			str(s)
		}
		num(uint64(e.Seed))
		num(math.Float64bits(e.Score))
		num(math.Float64bits(e.Stderr))
		h.Write(buf)
	}
	return strconv.Itoa(len(aggs)) + "-" + strconv.Itoa(len(evs)) + "-" + strconv.FormatUint(h.Sum64(), 36)
}

// maybeRank starts scoring the store again when its results changed since
// the last ranking, at most one scoring at a time and no more often than
// four times the last one took (so the view takes at most a fifth of a
// core from the run, whatever the study's size).
func (v *View) maybeRank(p *engine.Prepared, fp string, complete map[[2]string]bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if fp == v.rankFP || v.rankBusy {
		v.rank.Stale = fp != v.rankFP
		return
	}
	v.rank.Stale = v.rank.State == "ready"
	if v.now().Before(v.rankNext) {
		return
	}
	v.rankBusy = true
	if v.rank.State != "ready" {
		v.rank.State = "computing"
	}
	v.background.Add(1)
	go func() {
		defer v.background.Done()
		start := v.now()
		r := v.score(p)
		took := v.now().Sub(start)
		r.AsOf, r.Seconds = start.UTC(), took.Seconds()
		v.mu.Lock()
		defer v.mu.Unlock()
		v.rank, v.rankFP, v.rankBusy = r, fp, false
		v.rankNext = v.now().Add(max(2*time.Second, 4*took))
	}()
}

// score computes the provisional ranking of what the store holds now.
func (v *View) score(p *engine.Prepared) Ranking {
	r := Ranking{Provisional: true, State: "ready", Teachers: []RankRow{}, Cells: []RankRow{}}
	_, res, err := p.Score(v.st, 0, RankingBootstrap)
	switch {
	case errors.Is(err, engine.ErrNothingToScore):
		r.State = "waiting"
		return r
	case err != nil:
		r.State, r.Error = "error", err.Error()
		return r
	}
	r.Bootstrap, r.Confidence = res.Settings.Bootstrap, res.Settings.Confidence
	for _, t := range res.Teachers {
		row := RankRow{Rank: t.Rank, Teacher: t.Teacher, PG: finite(t.PG), Standing: t.Standing, Languages: len(t.Languages)}
		setCI(&row, t.CI)
		r.Teachers = append(r.Teachers, row)
	}
	for _, c := range res.Cells {
		row := RankRow{Rank: c.Rank, Teacher: c.Teacher, Language: c.Language, PG: finite(c.PG), Standing: c.Standing}
		setCI(&row, c.CI)
		r.Cells = append(r.Cells, row)
	}
	return r
}

func setCI(r *RankRow, ci *score.Interval) {
	if ci != nil {
		r.Lo, r.Hi, r.Method = finite(ci.Lo), finite(ci.Hi), ci.Method
	}
}

// markComplete copies rows with Complete set from the cells' progress: a
// teacher is complete when all its cells are.
func markComplete(rows []RankRow, complete map[[2]string]bool, cs []Cell) []RankRow {
	if rows == nil {
		return []RankRow{}
	}
	out := make([]RankRow, len(rows))
	for i, r := range rows {
		if r.Language != "" {
			r.Complete = complete[[2]string{r.Teacher, r.Language}]
		} else {
			r.Complete = false
			for _, c := range cs {
				if c.Teacher == r.Teacher {
					r.Complete = true
					if !c.Complete {
						r.Complete = false
						break
					}
				}
			}
		}
		out[i] = r
	}
	return out
}

func finite(x float64) *float64 {
	if x != x || x > 1e308 || x < -1e308 {
		return nil
	}
	return &x
}
