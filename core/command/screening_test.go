package command_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// cellKeys reads each teacher's example keys from a store, in request order.
func cellKeys(t *testing.T, dir string) (map[string][]string, []engine.ScreenStage) {
	t.Helper()
	st, err := store.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys := map[string][]string{}
	if err := st.Examples(store.Filter{}, func(e *store.Example) error {
		if len(keys[e.Teacher]) != e.Idx {
			t.Errorf("%s: example %d stored at position %d: a prefix has a gap", e.Teacher, len(keys[e.Teacher]), e.Idx)
		}
		keys[e.Teacher] = append(keys[e.Teacher], e.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stages, err := engine.ScreenStages(st)
	if err != nil {
		t.Fatal(err)
	}
	return keys, stages
}

func readReport(t *testing.T, storeDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(storeDir, "report", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestScreeningEndToEnd runs a screened experiment through the real
// binary, plugins and an HTTP teacher: stages of 10 and 30 examples per
// cell drop the teacher whose answers are cut to a fifth; a resumed run sends
// nothing; continuing with screening switched off finishes the dropped
// cells from where they stopped, so that over all runs every request is
// sent once; and the request keys are those of a run that never screened.
func TestScreeningEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const n = 60
	sizes := []int{10, 30}
	srv := startChatServer(t, "127.0.0.1:0", 0)
	seeds := writeSeeds(t, t.TempDir(), 200)
	r := newChaosRun(t, "screening", seeds, srv.baseURL(), n, 8)

	plan := r.run(t, "plan")
	for _, want := range []string{"screening", "worst case", "expected"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan does not show %q:\n%s", want, plan)
		}
	}

	r.run(t, "run")
	keys, stages := cellKeys(t, r.store)
	if len(stages) != len(sizes) {
		t.Fatalf("stored stages: %+v", stages)
	}
	droppedAt := map[string]int{} // teacher -> examples of the stage that dropped it
	for i, st := range stages {
		if st.N != sizes[i] || st.Index != i {
			t.Fatalf("stage %d stored as %+v", i+1, st.Stage)
		}
		for _, v := range st.Verdicts {
			t.Logf("stage %d: %s rank %d score %.4g [%.4g, %.4g] dropped=%v: %s", i+1, v.Teacher, v.Rank, v.Mean, v.Lo, v.Hi, v.Dropped, v.Reason)
			if _, gone := droppedAt[v.Teacher]; gone {
				t.Errorf("stage %d decided on %s, dropped before", i+1, v.Teacher)
			}
		}
		for _, c := range st.Dropped {
			droppedAt[c.Teacher] = st.N
		}
	}
	if _, ok := droppedAt["truncated"]; !ok || droppedAt["human"] != 0 {
		t.Fatalf("dropped %v; want truncated (answers cut to a fifth) and never human", droppedAt)
	}
	for _, tn := range []string{"human", "truncated", "partly", "api"} {
		want := n
		if at, ok := droppedAt[tn]; ok {
			want = at
		}
		if len(keys[tn]) != want {
			t.Errorf("%s generated %d examples, want %d", tn, len(keys[tn]), want)
		}
	}
	sent := srv.requests.Load()
	if want := int64(len(keys["api"])); sent != want {
		t.Errorf("the screened run sent %d requests to the api teacher for %d examples", sent, want)
	}
	for _, st := range stages {
		if len(st.Dropped) > 0 && (st.Saved.Requests != float64(len(st.Dropped)*(n-st.N)) || st.SavedJobs != 0) {
			t.Errorf("stage %d saved %+v and %d jobs; want the dropped cells' remaining %d requests each", st.Index+1, st.Saved, st.SavedJobs, n-st.N)
		}
	}
	rep := readReport(t, r.store)
	for _, want := range []string{"## Screening", "### Stage 1: 10 examples per cell", "### Stage 2: 30 examples per cell", "truncated", "lies below human's",
		fmt.Sprintf("partial: dropped at stage %d, %d examples", slices.Index(sizes, droppedAt["truncated"])+1, droppedAt["truncated"]), "Saved in all:"} {
		if !strings.Contains(rep, want) {
			t.Errorf("the report lacks %q:\n%s", want, rep)
		}
	}

	checkScreenedStatus(t, r, stages)
	checkScreenedCSV(t, r.store, stages)

	// Resumed: everything is decided and done; nothing is sent.
	r.run(t, "run")
	again, stagesAgain := cellKeys(t, r.store)
	if srv.requests.Load() != sent || !slices.EqualFunc(stagesAgain, stages, func(a, b engine.ScreenStage) bool {
		return a.Settings == b.Settings && len(a.Dropped) == len(b.Dropped)
	}) {
		t.Errorf("a resumed run sent %d requests and changed the stages to %+v", srv.requests.Load()-sent, stagesAgain)
	}
	for tn, ks := range keys {
		if !slices.Equal(again[tn], ks) {
			t.Errorf("%s: a resumed run changed the examples", tn)
		}
	}

	// Other stages than those decided: refused, nothing sent, decisions kept.
	cmd := r.with("-var", "stages=[10, 40]").command("run")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err == nil || !strings.Contains(errb.String(), "stage 2 was decided under other settings") || !strings.Contains(errb.String(), "enabled = false") {
		t.Errorf("a run with changed stages: %v\n%s", err, errb.String())
	}
	if srv.requests.Load() != sent {
		t.Errorf("a refused run sent %d requests", srv.requests.Load()-sent)
	}

	// Continued without screening: the dropped cells finish; the stage's
	// examples stay as they were and are the prefix of the full cell.
	r.with("-var", "screen=false").run(t, "run")
	full, _ := cellKeys(t, r.store)
	for tn, ks := range keys {
		if len(full[tn]) != n || !slices.Equal(full[tn][:len(ks)], ks) {
			t.Errorf("%s after continuing: %d examples; the first %d must be the screened run's", tn, len(full[tn]), len(ks))
		}
	}
	if total := srv.requests.Load(); total != n {
		t.Errorf("over the screened, resumed and continued runs the api teacher got %d requests for %d examples: something was sent twice or not at all", total, n)
	}
	checkScreenedStatus(t, r, nil)
	checkScreenedCSV(t, r.store, nil)
	rep = readReport(t, r.store)
	if !strings.Contains(rep, "continued with screening switched off") || strings.Contains(rep, "partial: dropped") {
		t.Errorf("the report after continuing must show the stages and no partial cell:\n%s", rep)
	}

	// A run that never screened makes the same requests under the same
	// keys: the screening block changes no unit or request key.
	plain := newChaosRun(t, "screening", seeds, srv.baseURL(), n, 8).with("-var", "screen=false")
	plain.run(t, "run")
	never, neverStages := cellKeys(t, plain.store)
	if len(neverStages) != 0 {
		t.Errorf("a run with screening off decided stages: %+v", neverStages)
	}
	for tn, ks := range full {
		if !slices.Equal(never[tn], ks) {
			t.Errorf("%s: request keys differ between the screened-then-continued run and a run that never screened", tn)
		}
	}

	// Screening switched on over that finished run decides on what is
	// there, sends nothing and leaves the full measurements alone.
	before := aggregates(t, plain.store)
	sent = srv.requests.Load()
	plain.with("-var", "screen=true").run(t, "run")
	if srv.requests.Load() != sent {
		t.Errorf("screening a finished run sent %d requests", srv.requests.Load()-sent)
	}
	if after := aggregates(t, plain.store); !cmp.Equal(before, after) {
		t.Errorf("screening a finished run changed its measurements:\n%s", cmp.Diff(before, after))
	}
	if rep := readReport(t, plain.store); !strings.Contains(rep, "## Screening") || strings.Contains(rep, "partial: dropped") {
		t.Errorf("the report of a finished run screened afterwards must show the stages and no partial cell:\n%s", rep)
	}
}

// aggregates reads a store's metric aggregates (values and sizes).
func aggregates(t *testing.T, dir string) map[string][2]float64 {
	t.Helper()
	st, err := store.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	as, err := st.MetricAggregates()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]float64{}
	for _, a := range as {
		out[a.Metric+" "+a.Teacher+"/"+a.Language+"/"+a.Strategy] = [2]float64{a.Value, float64(a.N)}
	}
	return out
}

// screenedStatus is what the screening checks read of `status --json`.
type screenedStatus struct {
	Summary struct {
		Stages []struct {
			Stage                                   string
			Pending, Running, Done, Failed, Dropped int
		}
	}
	DroppedCells []struct {
		Teacher, Language string
		Stage, Units      int
	} `json:"dropped_cells"`
}

// checkScreenedStatus checks `status` after a finished run: nothing is
// pending or running, and the units of the cells the stages dropped (all
// of them: none ran in full) are counted as dropped, with their stage;
// no stages means the screening is off and nothing counts as dropped.
func checkScreenedStatus(t *testing.T, r *chaosRun, stages []engine.ScreenStage) {
	t.Helper()
	var po struct {
		Stages []struct {
			Stage   string
			Dropped int
			ToRun   int `json:"to_run"`
		}
		Units []struct{ Teacher, Language string }
	}
	if err := json.Unmarshal([]byte(r.run(t, "plan", "--json")), &po); err != nil {
		t.Fatal(err)
	}
	type cell struct {
		teacher, language string
		stage, units      int
	}
	var want []cell
	for _, st := range stages {
		for _, c := range st.Dropped {
			n := 0
			for _, u := range po.Units {
				if u.Teacher == c.Teacher && u.Language == c.Language {
					n++
				}
			}
			want = append(want, cell{c.Teacher, c.Language, st.Index + 1, n})
		}
	}
	out := r.run(t, "status", "--json")
	var s screenedStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	var got []cell
	for _, c := range s.DroppedCells {
		got = append(got, cell{c.Teacher, c.Language, c.Stage, c.Units})
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(cell{})); diff != "" {
		t.Errorf("status --json dropped_cells (-want +got):\n%s\n%s", diff, out)
	}
	dropped, units := 0, 0
	for _, st := range s.Summary.Stages {
		if st.Pending != 0 || st.Running != 0 || st.Failed != 0 {
			t.Errorf("status after a finished screened run: stage %s has %d pending, %d running, %d failed units", st.Stage, st.Pending, st.Running, st.Failed)
		}
		dropped += st.Dropped
		units += st.Pending + st.Running + st.Done + st.Failed + st.Dropped
	}
	wantDropped := 0
	for _, c := range want {
		wantDropped += c.units
	}
	if dropped != wantDropped || units != len(po.Units) {
		t.Errorf("status counts %d units, %d dropped; the plan has %d, of which the dropped cells' are %d", units, dropped, len(po.Units), wantDropped)
	}
	planDropped := 0
	for _, st := range po.Stages {
		if st.ToRun != 0 {
			t.Errorf("plan after a finished screened run: stage %s has %d units to run", st.Stage, st.ToRun)
		}
		planDropped += st.Dropped
	}
	if planDropped != wantDropped {
		t.Errorf("plan counts %d units dropped, want %d", planDropped, wantDropped)
	}
	text := r.run(t, "status")
	for _, c := range want {
		line := fmt.Sprintf(`(?m)^\s+%s\s+%s\s+dropped \(screening stage %d\)\s+%d units$`, regexp.QuoteMeta(c.teacher), regexp.QuoteMeta(c.language), c.stage, c.units)
		if !regexp.MustCompile(line).MatchString(text) {
			t.Errorf("status does not show %s/%s dropped at stage %d:\n%s", c.teacher, c.language, c.stage, text)
		}
	}
	if len(want) == 0 && strings.Contains(text, "Dropped by screening") {
		t.Errorf("status lists dropped cells with screening off:\n%s", text)
	}
}

// checkScreenedCSV checks cells.csv and strategies.csv of the run's
// report: a cell's screened_out_at_stage is the stage that dropped it
// (its scores are that stage's), empty for every other cell.
func checkScreenedCSV(t *testing.T, storeDir string, stages []engine.ScreenStage) {
	t.Helper()
	want := map[[2]string]string{}
	for _, st := range stages {
		for _, c := range st.Dropped {
			want[[2]string{c.Teacher, c.Language}] = strconv.Itoa(st.Index + 1)
		}
	}
	for _, f := range []string{"cells.csv", "strategies.csv"} {
		rows := readCSV(t, filepath.Join(storeDir, "report", f))
		marked := 0
		for _, row := range rows {
			got, ok := row["screened_out_at_stage"]
			if !ok {
				t.Fatalf("%s has no screened_out_at_stage column: %v", f, row)
			}
			if w := want[[2]string{row["teacher"], row["language"]}]; got != w {
				t.Errorf("%s: %s/%s/%s screened_out_at_stage = %q, want %q", f, row["teacher"], row["language"], row["strategy"], got, w)
			}
			if got != "" {
				marked++
			}
		}
		// strategies.csv has rows only with more than one strategy.
		if (f == "cells.csv" && len(rows) == 0) || (len(rows) > 0 && len(want) > 0 && marked == 0) {
			t.Errorf("%s: %d rows, %d marked screened out; want rows and the dropped cells marked", f, len(rows), marked)
		}
	}
}
