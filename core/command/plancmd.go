package command

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/plan"
	"github.com/polyglot-teachers/polyglot/core/screening"
)

func init() {
	register(cmd{name: "plan", synopsis: "show what a run would do and what it would cost", run: runPlan,
		usage: "plan [DIR] [flags]",
		help:  "Shows the units of each stage (done, resumable, to run), the requests\nleft and their estimated cost. Sends nothing. --only takes what `run\n--only` takes, to see a restricted run's cost first."})
}

// StageSummary is one row of `polyglot plan`.
type StageSummary struct {
	Stage      plan.Stage `json:"stage"`
	Units      int        `json:"units"`
	Done       int        `json:"done"`
	Partial    int        `json:"partial"`
	Dropped    int        `json:"dropped"` // left out: a screening stage dropped their cell
	ToRun      int        `json:"to_run"`
	Requests   int        `json:"requests"`      // left to send
	ReqsDone   int        `json:"requests_done"` // sent with a final outcome (done units' included)
	EstCostUSD float64    `json:"est_cost_usd"`  // of the requests left
}

// PlanOutput is `polyglot plan --json`.
type PlanOutput struct {
	FormatVersion int            `json:"format_version"`
	Experiment    string         `json:"experiment"`
	Stages        []StageSummary `json:"stages"`
	EstCostUSD    float64        `json:"est_cost_usd"`
	Units         []UnitStatus   `json:"units"` // with --json only
	// Servers are the model servers (server blocks), where they run and
	// which units hold them.
	Servers []engine.ServerPlan `json:"servers,omitempty"`
	// Screening is the screened cells' worst-case and expected cost.
	Screening *engine.ScreeningPlan `json:"screening,omitempty"`
}

// UnitStatus is a unit with its state in the store.
type UnitStatus struct {
	*plan.Unit
	State        string `json:"state"`
	RequestsDone int    `json:"requests_done"`
}

// unitStateFunc returns a unit's state in the store ("done", "partial",
// "dropped", "pending") and, for a partial or dropped one, how many of its
// requests have a final outcome; an experiment never run has none.
type unitStateFunc func(key string) (state string, requestsDone int)

// summarize counts the units of p that match (all when match is nil).
func summarize(name string, p *plan.Plan, match func(*plan.Unit) bool, state unitStateFunc, withUnits bool) *PlanOutput {
	out := &PlanOutput{FormatVersion: jsonFormatVersion, Experiment: name}
	if withUnits {
		out.Units = []UnitStatus{}
	}
	for _, st := range plan.Stages {
		s := StageSummary{Stage: st}
		for _, u := range p.Of(st) {
			if match != nil && !match(u) {
				continue
			}
			s.Units++
			us, done := "pending", 0
			if state != nil {
				us, done = state(u.Key)
			}
			switch us {
			case "done":
				s.Done++
				done = u.Requests
			case "dropped": // not run, so neither to run nor costed
				s.Dropped++
				done = min(done, u.Requests)
			case "partial":
				s.Partial++
				s.ToRun++
				done = min(done, u.Requests)
				if u.Requests > 0 { // the estimate of what is left, pro rata
					s.EstCostUSD += u.EstCostUSD * float64(u.Requests-done) / float64(u.Requests)
				}
				s.Requests += u.Requests - done
			default:
				s.ToRun++
				s.EstCostUSD += u.EstCostUSD
				s.Requests += u.Requests
			}
			s.ReqsDone += done
			if withUnits {
				out.Units = append(out.Units, UnitStatus{Unit: u, State: us, RequestsDone: done})
			}
		}
		out.Stages = append(out.Stages, s)
		out.EstCostUSD += s.EstCostUSD
	}
	return out
}

func printPlan(w io.Writer, po *PlanOutput) {
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STAGE\tUNITS\tDONE\tRESUMES\tTO RUN\tDROPPED\tREQUESTS DONE\tREQUESTS LEFT\tEST. COST\t")
	for _, s := range po.Stages {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t$%.2f\t\n", s.Stage, s.Units, s.Done, s.Partial, s.ToRun, s.Dropped, s.ReqsDone, s.Requests, s.EstCostUSD)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nEstimated cost of what is left to run: $%.2f (from the prices in the spec; real cost uses reported token usage).\n", po.EstCostUSD)
}

func runPlan(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("plan")
	sf := addSpecFlags(fs)
	only := addOnlyFlag(fs)
	asJSON := fs.Bool("json", false, "print the plan as JSON, with every unit")
	composeName := fs.String("compose", "", "show what `export --compose NAME` would take: the teachers picked per language and the expected rows")
	dir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	p, mgr, err := prepare(ctx, env, sf, dir)
	if err != nil {
		return err
	}
	defer mgr.Close()
	if *composeName != "" {
		return planCompose(env, p, *composeName, *asJSON)
	}
	onlyMap, err := only.resolve(p.Plan)
	if err != nil {
		return err
	}
	match := engine.Options{Only: onlyMap}.Match
	state, closeStore := storeStates(p.Exp.Store, p.Exp.Screening != nil && p.Exp.Screening.Enabled)
	defer closeStore()
	po := summarize(p.Exp.Name, p.Plan, match, state, *asJSON)
	po.Servers = engine.PlanServers(p)
	po.Screening = p.PlanScreening(planSimulations)
	if *asJSON {
		return writeJSON(env.Stdout, po)
	}
	fmt.Fprintf(env.Stdout, "Experiment %q\n", p.Exp.Name)
	if len(onlyMap) > 0 {
		fmt.Fprintf(env.Stdout, "Only the units of --only %s (what `polyglot run --only %[1]s` would do)\n", only)
	}
	fmt.Fprintln(env.Stdout)
	printPlan(env.Stdout, po)
	printServers(env.Stdout, po.Servers)
	printScreening(env.Stdout, po.Screening)
	return nil
}

// printServers shows where each model server runs, which units hold it
// and for how long it is expected to be held.
func printServers(w io.Writer, ss []engine.ServerPlan) {
	if len(ss) == 0 {
		return
	}
	fmt.Fprintln(w, "\nModel servers (started for the first unit that needs one, stopped after the last):")
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tENGINE\tMODEL\tWHERE\tGPUS\tUNITS\tHELD DURING\tEXPECTED HOLD\tEST. GPU-HOURS")
	for _, s := range ss {
		hold, gh := "unknown (set hold_estimate)", "-"
		if s.Estimate != "" {
			hold, gh = s.Estimate, fmt.Sprintf("%.1f", s.GPUHours)
		}
		during := "-"
		if len(s.Stages) > 0 {
			during = strings.Join(s.Stages, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", s.Name, s.Engine, cmpOr(s.Model, "-"), s.Where, s.GPUs, len(s.Units), during, hold, gh)
	}
	tw.Flush()
}

// planSimulations is how many studies plan simulates for a screening's
// expected cost: enough for two digits, quick on a laptop.
const planSimulations = 200

func printScreening(w io.Writer, sp *engine.ScreeningPlan) {
	if sp == nil {
		return
	}
	var stages []string
	for _, n := range sp.Stages {
		stages = append(stages, strconv.Itoa(n))
	}
	scope := "per language"
	if sp.Scope == "overall" {
		scope = "overall"
	}
	fmt.Fprintf(w, "\nScreening: stages of %s → %d (full) examples per cell, %s %s (the table above counts every cell in full).\n", strings.Join(stages, " → "), sp.Full, sp.Rule, scope)
	amount := func(a screening.Amount) string {
		return fmt.Sprintf("%.0f requests, %.0f tokens, $%.2f", a.Requests, a.InputTokens+a.OutputTokens, a.USD)
	}
	fmt.Fprintf(w, "  worst case (no teacher dropped): %s, %d training and evaluation jobs\n", amount(sp.WorstCase), sp.WorstJobs)
	if sp.Simulated > 0 {
		fmt.Fprintf(w, "  expected under the rule:         %s, %.0f jobs (%.0f%% of the generation)\n", amount(sp.Expected), sp.ExpectedJobs, sp.ExpectedShare*100)
		fmt.Fprintf(w, "  expected assumes per-example noise %.2g× the spread of teacher effects (assume_noise; docs/method.md §9.3); over %d simulated studies the true best of a language survived in %.1f%%.\n", sp.AssumeNoise, sp.Simulated, sp.BestSurvives*100)
	}
}
