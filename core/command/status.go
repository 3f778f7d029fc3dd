package command

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/secret"
	"github.com/polyglot-teachers/polyglot/core/servers"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
)

func init() {
	register(cmd{name: "status", synopsis: "show where a run stands (also while it runs)", run: runStatus,
		usage: "status [DIR] [flags]",
		help:  "Shows the units of each stage by state and, per teacher, language,\nstrategy and seed, the examples, failures, tokens and cost so far. Reads\nthe store read-only: it works while a run is going."})
}

// openStoreOf loads just enough of the spec to find its store.
func openStoreOf(env *Env, sf *specFlags, dir string) (*spec.Experiment, *store.Store, error) {
	exp, diags := spec.LoadDir(dir, spec.LoadOptions{Vars: sf.vars, AllowRead: sf.allowRead})
	if diags.HasErrors() {
		exp.WriteDiagnostics(env.Stderr, diags, useColor(env.Stderr))
		return nil, nil, exitError{1}
	}
	if _, err := os.Stat(exp.Store); errors.Is(err, os.ErrNotExist) {
		return exp, nil, fmt.Errorf("no store at %s yet: nothing has run (start with `polyglot run %s`)", exp.Store, dir)
	}
	st, err := store.OpenReadOnly(exp.Store)
	return exp, st, err
}

// statusOutput is `polyglot status --json`.
type statusOutput struct {
	FormatVersion int            `json:"format_version"`
	Experiment    string         `json:"experiment"`
	Store         string         `json:"store"`
	Summary       *store.Summary `json:"summary"`
	// Why things failed: per teacher and reason, each teacher's last
	// error, and the failed units with theirs.
	FailureReasons []reasonRow           `json:"failure_reasons"`
	TeacherErrors  []engine.TeacherError `json:"teacher_errors"`
	FailedUnits    []failedUnit          `json:"failed_units"`
	// Servers are the experiment's model servers (server blocks) as their
	// records under STORE/servers say.
	Servers []servers.Status `json:"servers,omitempty"`
	// DroppedCells are the cells a screening dropped, with the stage and
	// how many of their units it leaves out (counted as dropped in
	// summary.stages, not as pending).
	DroppedCells []droppedCell `json:"dropped_cells"`
}

// droppedCell is a teacher × language a screening stage dropped.
type droppedCell struct {
	Teacher  string `json:"teacher"`
	Language string `json:"language"`
	Stage    int    `json:"stage"` // 1-based
	Units    int    `json:"units"` // pending units left out
}

// statusOf is what `status --json` prints, read now.
func statusOf(exp *spec.Experiment, st *store.Store) (statusOutput, error) {
	sum, err := st.Summary()
	if err != nil {
		return statusOutput{}, err
	}
	fails, err := readFailures(st)
	if err != nil {
		return statusOutput{}, err
	}
	dropped, err := applyDropped(st, sum)
	if err != nil {
		return statusOutput{}, err
	}
	if sum.Stages == nil {
		sum.Stages = []store.StageCount{}
	}
	if sum.Cells == nil {
		sum.Cells = []store.CellSummary{}
	}
	return statusOutput{jsonFormatVersion, exp.Name, exp.Store, sum, fails.Reasons, fails.TeacherErrors, fails.Units, servers.Records(engine.ServersDir(exp.Store)), dropped}, nil
}

// applyDropped counts the pending units of cells a screening dropped as
// dropped instead of pending (they do not run while screening is on, so
// a finished screened run would otherwise look unfinished), and lists
// those cells by stage, teacher and language.
func applyDropped(st *store.Store, sum *store.Summary) ([]droppedCell, error) {
	out := []droppedCell{}
	drop, err := engine.DroppedUnits(st)
	if err != nil || len(drop) == 0 {
		return out, err
	}
	units, err := st.Units("")
	if err != nil {
		return nil, err
	}
	stages := map[string]*store.StageCount{}
	for i := range sum.Stages {
		stages[sum.Stages[i].Stage] = &sum.Stages[i]
	}
	cells := map[engine.DroppedUnit]int{}
	for _, u := range units {
		d, ok := drop[u.Key]
		sc := stages[u.Stage]
		// A unit read pending here may have moved on since Summary
		// counted it (a run is going): never count below zero.
		if !ok || u.State != store.Pending || sc == nil || sc.Pending == 0 {
			continue
		}
		sc.Pending--
		sc.Dropped++
		i, seen := cells[d]
		if !seen {
			i = len(out)
			cells[d] = i
			out = append(out, droppedCell{Teacher: d.Teacher, Language: d.Language, Stage: d.Stage})
		}
		out[i].Units++
	}
	slices.SortFunc(out, func(a, b droppedCell) int {
		return cmp.Or(cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.Teacher, b.Teacher), cmp.Compare(a.Language, b.Language))
	})
	return out, nil
}

func runStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("status")
	sf := addSpecFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	dir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	exp, st, err := openStoreOf(env, sf, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	so, err := statusOf(exp, st)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(env.Stdout, so)
	}
	sum := so.Summary
	fails := &statusFailures{Reasons: so.FailureReasons, TeacherErrors: so.TeacherErrors, Units: so.FailedUnits}
	fmt.Fprintf(env.Stdout, "Experiment %q (store %s)\n\n", exp.Name, exp.Store)
	tw := tabwriter.NewWriter(env.Stdout, 0, 2, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STAGE\tPENDING\tRUNNING\tDONE\tFAILED\tDROPPED\t")
	for _, s := range sum.Stages {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", s.Stage, s.Pending, s.Running, s.Done, s.Failed, s.Dropped)
	}
	tw.Flush()
	if len(so.DroppedCells) > 0 {
		fmt.Fprintln(env.Stdout, "\nDropped by screening (their units do not run while screening is on; enabled = false in the screening block runs them):")
		tw = tabwriter.NewWriter(env.Stdout, 0, 2, 2, ' ', 0)
		for _, c := range so.DroppedCells {
			fmt.Fprintf(tw, "  %s\t%s\tdropped (screening stage %d)\t%d units\n", c.Teacher, c.Language, c.Stage, c.Units)
		}
		tw.Flush()
	}
	fmt.Fprintln(env.Stdout)
	tw = tabwriter.NewWriter(env.Stdout, 0, 2, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TEACHER\tLANGUAGE\tSTRATEGY\tSEED\tEXAMPLES\tFAILED\tRETRYING\tTOKENS IN\tTOKENS OUT\tCOST\tSAVED BY CACHE\t")
	for _, c := range sum.Cells {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t$%.4f\t$%.4f\t\n", c.Teacher, c.Language, c.Strategy, c.Seed, c.Examples, c.Failures, c.Retrying, c.InputTokens, c.OutputTokens, c.CostUSD, c.SavedUSD)
	}
	t := sum.Total
	fmt.Fprintf(tw, "total\t\t\t\t%d\t%d\t%d\t%d\t%d\t$%.4f\t$%.4f\t\n", t.Examples, t.Failures, t.Retrying, t.InputTokens, t.OutputTokens, t.CostUSD, t.SavedUSD)
	if err := tw.Flush(); err != nil {
		return err
	}
	writeServers(env.Stdout, servers.Records(engine.ServersDir(exp.Store)))
	return fails.write(env.Stdout)
}

// writeServers lists the model servers: state, where, GPU time held, log.
func writeServers(w io.Writer, recs []servers.Status) {
	if len(recs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nModel servers:")
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tSTATE\tEXECUTOR\tJOB\tATTEMPT\tURL\tHELD (h)\tGPU-HOURS\tLOGS")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%.2f\t%.2f\t%s\n", r.Name, r.State, r.Executor, cmpOr(r.JobID, "-"), r.Attempt, cmpOr(r.URL, "-"), r.HeldHours, r.GPUHours, r.LogDir)
	}
	tw.Flush()
	for _, r := range recs {
		if r.Error != "" {
			fmt.Fprintf(w, "server %s failed: %s\n", r.Name, r.Error)
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// statusFailures is why things failed, as `status` shows it.
type statusFailures struct {
	Reasons       []reasonRow           `json:"reasons"`
	TeacherErrors []engine.TeacherError `json:"teacher_errors"`
	Units         []failedUnit          `json:"units"`
}

// reasonRow counts one teacher's failures with one reason.
type reasonRow struct {
	Teacher  string    `json:"teacher"`
	Reason   string    `json:"reason"`
	Final    int       `json:"final"`    // not sent again unless run --retry-failed
	Retrying int       `json:"retrying"` // sent again by the next run
	Last     time.Time `json:"last"`
	Example  string    `json:"example"` // the latest one's raw payload, redacted
}

type failedUnit struct {
	Stage string `json:"stage"`
	Label string `json:"label"`
	Error string `json:"error"`
}

func readFailures(st *store.Store) (*statusFailures, error) {
	out := &statusFailures{Reasons: []reasonRow{}, Units: []failedUnit{}}
	rs, err := st.FailureReasons(nil, time.Time{})
	if err != nil {
		return nil, err
	}
	idx := map[[2]string]int{}
	for _, r := range rs {
		k := [2]string{r.Teacher, r.Reason}
		i, ok := idx[k]
		if !ok {
			i = len(out.Reasons)
			idx[k] = i
			out.Reasons = append(out.Reasons, reasonRow{Teacher: r.Teacher, Reason: r.Reason})
		}
		row := &out.Reasons[i]
		if r.Final {
			row.Final += r.Count
		} else {
			row.Retrying += r.Count
		}
		if r.Last.After(row.Last) {
			row.Last, row.Example = r.Last, secret.Redact(r.Example)
		}
	}
	if out.TeacherErrors, err = engine.TeacherErrors(st); err != nil {
		return nil, err
	}
	if out.TeacherErrors == nil {
		out.TeacherErrors = []engine.TeacherError{}
	}
	units, err := st.Units("")
	if err != nil {
		return nil, err
	}
	for _, u := range units {
		if u.State != store.Failed {
			continue
		}
		var d struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(u.Detail, &d)
		out.Units = append(out.Units, failedUnit{u.Stage, u.Label, d.Error})
	}
	return out, nil
}

func (f *statusFailures) write(w io.Writer) error {
	if len(f.Reasons) > 0 {
		fmt.Fprintln(w, "\nWhy requests failed (FINAL ones are not sent again by a plain rerun: fix the cause, then `polyglot run --retry-failed` or --retry-failed=REASON):")
		tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "TEACHER\tREASON\tFINAL\tRETRYING\tLAST\tLATEST MESSAGE")
		for _, r := range f.Reasons {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", r.Teacher, engine.ReasonName(r.Reason), r.Final, r.Retrying, r.Last.Local().Format("2006-01-02 15:04:05"), oneLine(r.Example, 160))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(f.TeacherErrors) > 0 {
		fmt.Fprintln(w, "\nLast error per teacher:")
		for _, te := range f.TeacherErrors {
			state := "failing"
			if te.Stopped {
				state = "STOPPED"
			}
			fmt.Fprintf(w, "  %s  %s  %s: %s\n", te.Teacher, te.At.Local().Format("2006-01-02 15:04:05"), state, oneLine(te.Message, 400))
		}
	}
	if len(f.Units) > 0 {
		fmt.Fprintln(w, "\nFailed units (run again once the cause is fixed):")
		for _, u := range f.Units[:min(len(f.Units), 20)] {
			fmt.Fprintf(w, "  %s: %s\n", u.Label, oneLine(u.Error, 400))
		}
		if len(f.Units) > 20 {
			fmt.Fprintf(w, "  and %d more (status --json lists them all)\n", len(f.Units)-20)
		}
	}
	return nil
}

// oneLine folds s onto one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
