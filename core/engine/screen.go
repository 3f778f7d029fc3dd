package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/report"
	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/screening"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// screeningNS is the store's kv namespace of screening decisions: one
// entry per decided stage, so that a resumed run replays them instead of
// deciding again.
const screeningNS = "screening"

// ScreenStage is a decided stage as the store keeps it.
type ScreenStage struct {
	screening.Stage
	// Settings identifies the rule and sizes the stage was decided under.
	Settings string `json:"settings"`
	// Saved is what the cells dropped at this stage do not spend of the
	// full run, from the plan's estimates (requests, tokens, USD) and the
	// training and evaluation jobs of the students not trained on them.
	Saved     screening.Amount `json:"saved"`
	SavedJobs int              `json:"saved_jobs"`
}

// screenSettings is the decision part of the screening block.
func (p *Prepared) screenSettings() screening.Settings {
	sc := p.Exp.Screening
	return screening.Settings{Rule: screening.Rule(sc.Rule), Scope: screening.Scope(sc.Scope), MinKeep: sc.MinKeep, Keep: sc.Keep, Confidence: sc.Confidence}
}

// screenSignature names what a stage's decision depends on besides the
// data: a stored stage decided under another signature is not replayed.
func (p *Prepared) screenSignature(stage int) string {
	sc := p.Exp.Screening
	return fmt.Sprintf("n=%d rule=%s scope=%s score=%s metrics=%s min_keep=%d keep=%g confidence=%g", sc.Stages[stage], sc.Rule, sc.Scope, sc.Score,
		strings.Join(sc.Metrics, ","), sc.MinKeep, sc.Keep, sc.Confidence)
}

// screened reports the teachers and languages a screening decides on:
// every cell teacher but the negative controls, which cost nothing.
func (p *Prepared) screened() (teachers []string) {
	for _, t := range p.CellTeachers() {
		if !t.Control {
			teachers = append(teachers, t.Name)
		}
	}
	return teachers
}

// ScreenStages reads the decided stages from the store, in order.
func ScreenStages(st *store.Store) ([]ScreenStage, error) {
	keys, err := st.KVKeys(screeningNS)
	if err != nil {
		return nil, err
	}
	var out []ScreenStage
	for _, k := range keys {
		if !strings.HasPrefix(k, "stage-") {
			continue
		}
		var s ScreenStage
		if _, err := st.KVGet(screeningNS, k, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// screen runs the screening stages that are not decided yet, and leaves
// in r.screen which cells the rest of the run skips. Without a screening
// block, or with enabled = false, nothing is skipped.
func (r *Runner) screen(ctx context.Context) error {
	sc := r.P.Exp.Screening
	if sc == nil || !sc.Enabled {
		// Nothing is left out: `status` must not count units as dropped
		// that this run (continued without screening) will run.
		return r.Store.KVDelete(screeningNS, droppedKey)
	}
	for _, t := range r.P.Exp.Teachers {
		if t.Batch && t.Generate {
			return fmt.Errorf("screening: teacher %q uses the batch API, which sends a unit's requests in one go; screening generates prefixes. Set batch = false on it, or remove the screening block", t.Name)
		}
	}
	tk := screening.NewTracker(r.P.screenSettings(), r.P.screened(), r.P.Exp.Languages)
	stored, err := ScreenStages(r.Store)
	if err != nil {
		return err
	}
	if len(stored) < len(sc.Stages) && len(r.Opts.Only) > 0 {
		return fmt.Errorf("screening: stage %d is not decided yet, and a stage decides on every cell; run without --only first (or set enabled = false in the screening block)", len(stored)+1)
	}
	for i, s := range stored {
		if i >= len(sc.Stages) || s.Settings != r.P.screenSignature(i) {
			return fmt.Errorf("screening: stage %d was decided under other settings (%s) than the spec's (%s); its decisions are kept in the store. Set enabled = false in the screening block to continue without screening, or use a new store", i+1, s.Settings, r.sigOr(i))
		}
		if err := tk.Restore(s.Stage); err != nil {
			return err
		}
	}
	r.tracker = tk
	if err := r.recordDropped(); err != nil {
		return err
	}
	for i := len(stored); i < len(sc.Stages); i++ {
		if err := r.screenStage(ctx, tk, i); err != nil {
			return err
		}
		if err := r.recordDropped(); err != nil {
			return err
		}
	}
	return nil
}

// droppedKey is the kv entry (in screeningNS) of the units the screening
// leaves out, by unit key. The store's units carry no teacher or language,
// so `polyglot status`, which reads the store without planning, learns
// from it which pending units will not run.
const droppedKey = "dropped-units"

// DroppedUnit is a unit whose cell a screening stage dropped.
type DroppedUnit struct {
	Teacher  string `json:"teacher"`
	Language string `json:"language"`
	Stage    int    `json:"stage"` // 1-based, as reports and logs number stages
}

// recordDropped stores which of the plan's units the run skips now.
func (r *Runner) recordDropped() error {
	out := map[string]DroppedUnit{}
	for _, u := range r.P.Plan.Units {
		if !r.skipped(u) {
			continue
		}
		i, _ := r.tracker.DroppedAt(screening.Cell{Teacher: u.Teacher, Language: u.Language})
		out[u.Key] = DroppedUnit{Teacher: u.Teacher, Language: u.Language, Stage: i + 1}
	}
	return r.Store.KVPut(screeningNS, droppedKey, out)
}

// DroppedUnits reads the units the screening leaves out, by unit key: none
// without screening or once it is switched off.
func DroppedUnits(st *store.Store) (map[string]DroppedUnit, error) {
	out := map[string]DroppedUnit{}
	if _, err := st.KVGet(screeningNS, droppedKey, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (r *Runner) sigOr(i int) string {
	if i < len(r.P.Exp.Screening.Stages) {
		return r.P.screenSignature(i)
	}
	return "fewer stages"
}

// stageLimits gives each generate unit of the plan its prefix at a stage of
// n examples per cell: the strategies' shares of n, as the full run splits
// examples_per_cell (plan.Shares), never above the unit's own size.
func (r *Runner) stageLimits(n int) map[string]int {
	shares := plan.Shares(r.P.Exp.Strategies, n)
	out := map[string]int{}
	for _, u := range r.P.Plan.Of(plan.Generate) {
		out[u.Key] = min(shares[u.Strategy], u.N)
	}
	return out
}

// StageLimits is stageLimits for tests and tools: generate unit key ->
// requests a stage of n examples per cell sends.
func (p *Prepared) StageLimits(n int) map[string]int {
	return (&Runner{P: p}).stageLimits(n)
}

func (r *Runner) screenStage(ctx context.Context, tk *screening.Tracker, i int) error {
	sc := r.P.Exp.Screening
	n := sc.Stages[i]
	limits := r.stageLimits(n)
	alive := func(u *plan.Unit) bool {
		return u.Control || tk.Alive(screening.Cell{Teacher: u.Teacher, Language: u.Language})
	}
	// 1. Generate every alive cell's prefix (controls are not screened:
	// they run in full with the rest of the run).
	g, gctx := errgroup.WithContext(ctx)
	var gens []*plan.Unit
	for _, u := range r.P.Plan.Of(plan.Generate) {
		if !u.Control && alive(u) && r.Opts.Match(u) {
			gens = append(gens, u)
		}
	}
	r.log.Info().Int("stage", i+1).Int("examples_per_cell", n).Int("units", len(gens)).Msg("screening: generating the stage's prefix")
	for _, u := range gens {
		g.Go(func() error {
			if su, ok, err := r.Store.Unit(u.Key); err != nil {
				return err
			} else if ok && su.State == store.Done {
				return nil
			}
			release, err := r.stageServers(gctx, u)
			if err != nil {
				return err
			}
			_, err = r.gen.runPrefix(gctx, u, limits[u.Key])
			release()
			if err != nil {
				return fmt.Errorf("screening stage %d, %s: %w", i+1, u.Label, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := r.writer.Flush(); err != nil {
		return err
	}
	// 2. Measure the decision's metrics on the prefixes.
	want := r.P.Exp.Score.Metrics
	if sc.Score == "metrics" {
		want = sc.Metrics
	}
	bases := map[string]bool{}
	for _, m := range want {
		b, _, _ := strings.Cut(m, ".")
		bases[b] = true
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(max(r.Opts.StageConcurrency, 1))
	for _, u := range r.P.Plan.Of(plan.Metrics) {
		if u.Control || !alive(u) || !bases[u.Metric] || !r.Opts.Match(u) {
			continue
		}
		// A cell measured in full already (a store that ran before the
		// block was added) keeps its full aggregates: the stage decides on
		// them rather than overwrite what the finished unit stored.
		if done, ok, err := r.Store.Unit(u.Key); err != nil {
			return err
		} else if ok && done.State == store.Done {
			continue
		}
		g.Go(func() error {
			su := *u
			su.Label = fmt.Sprintf("screening stage %d: %s", i+1, u.Label)
			release, err := r.stageServers(gctx, u)
			if err != nil {
				return err
			}
			_, err = r.runMetricOn(gctx, &su, limits)
			release()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// 3. Score the alive cells on the intrinsic part over those metrics.
	study, err := r.P.Study(r.Store, 0)
	if err != nil {
		return err
	}
	study.Benchmarks = nil
	study.Metrics = slices.DeleteFunc(study.Metrics, func(m score.MetricRecord) bool {
		return !tk.Alive(screening.Cell{Teacher: m.Teacher, Language: m.Language}) || !slices.Contains(r.P.screened(), m.Teacher)
	})
	set := r.P.Settings()
	set.Metrics = scoredMetrics(study, want)
	set.Alpha, set.Standardize, set.Confidence = 1, "published", sc.Confidence
	set.MinExamples, set.MinExampleShare = 0, 0 // a prefix is a small share by design
	scores := map[screening.Cell]screening.Candidate{}
	if len(set.Metrics) > 0 {
		res, err := score.Compute(study, set)
		if err != nil {
			return fmt.Errorf("screening stage %d: %w", i+1, err)
		}
		for _, c := range res.Cells {
			cand := screening.Candidate{Teacher: c.Teacher, Mean: c.PG, Lo: c.PG, Hi: c.PG, N: n}
			if c.CI != nil {
				cand.Lo, cand.Hi, cand.HasCI = c.CI.Lo, c.CI.Hi, true
			}
			scores[screening.Cell{Teacher: c.Teacher, Language: c.Language}] = cand
		}
	}
	// 4. Decide, and keep the decision with what it saves.
	stage := tk.Step(n, scores)
	rec := ScreenStage{Stage: stage, Settings: r.P.screenSignature(i)}
	rec.Saved, rec.SavedJobs = r.P.savings(stage.Dropped, n)
	if err := r.Store.KVPut(screeningNS, fmt.Sprintf("stage-%02d", i), rec); err != nil {
		return err
	}
	for _, c := range stage.Dropped {
		r.log.Info().Int("stage", i+1).Str("teacher", c.Teacher).Str("language", c.Language).Msg("screening: dropped")
	}
	r.log.Info().Int("stage", i+1).Int("dropped", len(stage.Dropped)).Float64("saved_usd", rec.Saved.USD).Float64("saved_requests", rec.Saved.Requests).Msg("screening: stage decided")
	return nil
}

// savings is what cells dropped at a stage of n examples per cell do not
// spend: the rest of their generation, from the plan's estimates, and the
// training and evaluation jobs of students on their data.
func (p *Prepared) savings(cells []screening.Cell, n int) (screening.Amount, int) {
	drop := map[screening.Cell]bool{}
	for _, c := range cells {
		drop[c] = true
	}
	var a screening.Amount
	jobs := 0
	full := max(p.Exp.ExamplesPerCell, 1)
	rest := 1 - float64(n)/float64(full)
	for _, u := range p.Plan.Units {
		if !drop[screening.Cell{Teacher: u.Teacher, Language: u.Language}] {
			continue
		}
		switch u.Stage {
		case plan.Generate:
			a = a.Add(screening.Amount{Requests: float64(u.Requests), InputTokens: float64(u.EstInputTokens), OutputTokens: float64(u.EstOutputTokens), USD: u.EstCostUSD}.Scale(rest))
		case plan.Train, plan.Evaluate:
			jobs++
		}
	}
	return a, jobs
}

// skipped reports whether u belongs to a cell the screening dropped: the
// run leaves it pending (its cell keeps the partial data and scores of
// its last stage) until screening is switched off.
func (r *Runner) skipped(u *plan.Unit) bool {
	if r.tracker == nil || u.Teacher == "" || u.Control {
		return false
	}
	return !r.tracker.Alive(screening.Cell{Teacher: u.Teacher, Language: u.Language})
}

// droppedSignature names the cells the current run leaves out, for
// telling whether the stored report was scored on the same set.
func (r *Runner) droppedSignature() string {
	if r.tracker == nil {
		return ""
	}
	var out []string
	for _, t := range r.P.screened() {
		for _, l := range r.P.Exp.Languages {
			if !r.tracker.Alive(screening.Cell{Teacher: t, Language: l}) {
				out = append(out, t+"/"+l)
			}
		}
	}
	return strings.Join(out, ",")
}

// screeningReport is the report's account of the stored stages; nil
// without screening.
func (p *Prepared) screeningReport(st *store.Store) (*report.Screening, error) {
	if p.Exp.Screening == nil {
		return nil, nil
	}
	stages, err := ScreenStages(st)
	if err != nil || len(stages) == 0 {
		return nil, err
	}
	out := &report.Screening{Enabled: p.Exp.Screening.Enabled, Full: p.Exp.ExamplesPerCell}
	for _, s := range stages {
		out.Stages = append(out.Stages, report.ScreeningStage{Stage: s.Stage, Saved: s.Saved, SavedJobs: s.SavedJobs})
		for _, c := range s.Dropped {
			complete := true
			for _, u := range p.Plan.Of(plan.Generate) {
				if u.Teacher == c.Teacher && u.Language == c.Language {
					su, ok, err := st.Unit(u.Key)
					if err != nil {
						return nil, err
					}
					complete = complete && ok && su.State == store.Done
				}
			}
			if complete {
				out.Complete = append(out.Complete, c)
			}
		}
	}
	return out, nil
}

// ScreeningPlan is what `plan` says of a screening: the cost of the
// screened teachers' cells if no teacher is dropped, and the cost
// expected under the rule.
type ScreeningPlan struct {
	Stages []int  `json:"stages"` // examples per cell; the full size follows
	Full   int    `json:"full"`
	Rule   string `json:"rule"`
	Scope  string `json:"scope"`
	// WorstCase is the generation of every screened cell in full, plus
	// the judge calls that score the stages; WorstJobs the training and
	// evaluation jobs of the students on those cells.
	WorstCase screening.Amount `json:"worst_case"`
	WorstJobs int              `json:"worst_jobs"`
	// Expected is the mean cost under the rule over simulated studies of
	// the experiment's shape (screening.Simulate with screening.Reference
	// and the block's assume_noise); ExpectedShare its share of WorstCase's
	// generation, BestSurvives the simulated chance the true best of a
	// language survives.
	Expected      screening.Amount `json:"expected"`
	ExpectedJobs  float64          `json:"expected_jobs"`
	ExpectedShare float64          `json:"expected_share"`
	BestSurvives  float64          `json:"best_survives"`
	AssumeNoise   float64          `json:"assume_noise"`
	Simulated     int              `json:"simulated_studies"`
}

// PlanScreening estimates a screening's cost; nil without one. reps
// studies are simulated (deterministically, seed 1).
func (p *Prepared) PlanScreening(reps int) *ScreeningPlan {
	sc := p.Exp.Screening
	if sc == nil || len(sc.Stages) == 0 {
		return nil
	}
	screened := map[string]bool{}
	for _, t := range p.screened() {
		screened[t] = true
	}
	out := &ScreeningPlan{Stages: sc.Stages, Full: p.Exp.ExamplesPerCell, Rule: sc.Rule, Scope: sc.Scope, AssumeNoise: sc.AssumeNoise, Simulated: reps}
	full := float64(max(p.Exp.ExamplesPerCell, 1))
	var gen, judge screening.Amount // per full cell, summed over cells
	for _, u := range p.Plan.Units {
		if !screened[u.Teacher] {
			continue
		}
		a := screening.Amount{Requests: float64(u.Requests), InputTokens: float64(u.EstInputTokens), OutputTokens: float64(u.EstOutputTokens), USD: u.EstCostUSD}
		switch u.Stage {
		case plan.Generate:
			gen = gen.Add(a)
		case plan.Metrics:
			judge = judge.Add(a)
		case plan.Train, plan.Evaluate:
			if u.Role == "student" {
				out.WorstJobs++
			}
		}
	}
	// A stage of n examples scores a sample of at most n per cell: its
	// judge calls are the full run's, pro rata.
	stageJudge := func(n int) screening.Amount { return judge.Scale(min(float64(n)/full, 1)) }
	out.WorstCase = gen.Add(judge)
	for _, n := range sc.Stages {
		out.WorstCase = out.WorstCase.Add(stageJudge(n))
	}
	m := screening.Reference()
	m.Teachers, m.Languages = len(p.screened()), len(p.Exp.Languages)
	m.Noise = sc.AssumeNoise * m.TeacherSD
	if m.Teachers == 0 || m.Languages == 0 || reps <= 0 {
		return out
	}
	res := screening.Simulate(screening.SimConfig{Settings: p.screenSettings(), Stages: sc.Stages, Full: p.Exp.ExamplesPerCell, Reps: reps, Seed: 1}, m)
	out.ExpectedShare, out.BestSurvives = res.CostShare, res.BestSurvives
	// Cells alive before each stage are scored there; survivors of the
	// last stage are measured and trained in full.
	alive := 1.0
	exp := gen.Scale(res.CostShare)
	for i, n := range sc.Stages {
		exp = exp.Add(stageJudge(n).Scale(alive))
		alive = res.AliveAfter[i]
	}
	out.Expected = exp.Add(judge.Scale(alive))
	out.ExpectedJobs = float64(out.WorstJobs) * alive
	return out
}

// stageServers holds u's model servers for a screening stage's work on it.
// The unit runs again later (its next stage, or in full), so the stage's
// hold is added to what the servers expect instead of counting as the
// unit's own.
func (r *Runner) stageServers(ctx context.Context, u *plan.Unit) (func(), error) {
	if r.servers == nil || len(r.needs[u.Key]) == 0 {
		return func() {}, nil
	}
	for _, n := range r.needs[u.Key] {
		r.servers.ExpectMore(n, 1)
	}
	release, err := r.acquireServers(ctx, u)
	if err != nil {
		return nil, err
	}
	return release, nil
}
