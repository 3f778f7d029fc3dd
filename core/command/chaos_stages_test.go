package command_test

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/store"
)

// The stages after generation, in pipeline order: "students" is train
// then evaluate.
var laterStages = []string{"metrics", "train", "evaluate", "score"}

// stageKills is the kill plan of TestChaosLaterStages: the stage each kill
// aims at, in pipeline order (a stage cannot be hit once it is done).
// Every stage is hit at least twice.
var stageKills = []string{"metrics", "metrics", "metrics", "train", "train", "evaluate", "evaluate", "score", "score"}

// TestChaosLaterStages is the crash-safety test of the metrics, students
// (train, evaluate) and score stages. The quickstart, cut down to three
// languages, 60 examples per cell and a longer bootstrap (-var), runs once uninterrupted into
// store A; a second run into store B is SIGKILLed at seeded random moments
// inside each of those stages and resumed after each kill. Then:
//   - B's report (report.json, the CSV tables, report.html, report.md) is
//     byte-identical to A's, and so are its metric values and aggregates,
//     trainings (less their wall times), trained models' bytes and
//     evaluations: exact equality, because a re-run unit recomputes its
//     result from the same rows read in the same (indexed) order and the
//     plugins are deterministic, so no float sum runs in another order;
//   - B has exactly A's rows (no duplicates, no leftovers of a killed
//     attempt) and every unit is done;
//   - no unit that was done at a kill ran again (its attempts count, which
//     the engine raises each time it starts a unit, did not change), while
//     units cut short by a kill did run again;
//   - no plugin process outlives a killed host;
//   - the next run sets units a kill left marked running back to pending,
//     even when --only keeps it from running them.
func TestChaosLaterStages(t *testing.T) {
	if testing.Short() {
		t.Skip("stage chaos test: a dozen real runs of the cut-down quickstart")
	}
	calm := newStagesRun(t)
	start := time.Now()
	calmLog := calm.runLogged(t)
	t.Logf("uninterrupted run: %s", time.Since(start).Round(time.Millisecond))
	took, units := map[string]time.Duration{}, map[string]int{}
	for _, e := range calmLog {
		switch e.Message {
		case "stage started":
			units[e.Stage] = e.Units
		case "stage finished":
			took[e.Stage] = time.Duration(e.Took) * time.Millisecond
		}
	}
	for _, s := range laterStages {
		if units[s] == 0 {
			t.Fatalf("the uninterrupted run logged no %q stage; log:\n%v", s, calmLog)
		}
		t.Logf("  %-8s %3d units in %s", s, units[s], took[s])
	}
	calmUnits := unitStates(t, calm.store)
	for _, u := range calmUnits {
		if u.State != store.Done || u.Attempts != 1 {
			t.Errorf("uninterrupted run: unit %s is %s after %d attempts; want done after 1", u.Label, u.State, u.Attempts)
		}
	}

	chaos := newStagesRun(t)
	// POLYGLOT_CHAOS_SEED picks other kill moments (to soak the test).
	seed := uint64(20260502)
	if v := os.Getenv("POLYGLOT_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("POLYGLOT_CHAOS_SEED=%q: want a non-negative integer", v)
		}
		seed = n
	}
	t.Logf("kill moments from seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	hits := map[string]int{}
	// doneAt is each unit's attempts count when a kill first found it done.
	doneAt := map[string]int{}
	// cut holds the units that were running at a kill, with their attempts.
	cut := map[string]int{}
	start = time.Now()
	for i, target := range stageKills {
		before := unitStates(t, chaos.store)
		if stageComplete(before, target) {
			t.Fatalf("kill %d: stage %s was already done before it could be hit a second time (an earlier kill came too late); hits so far %v", i+1, target, hits)
		}
		how := chaos.killInStage(t, target, rng, took[target], units[target])
		chaos.noLeftovers(t)
		after := unitStates(t, chaos.store)
		hit := firstUnfinished(after)
		hits[hit]++
		done, running := 0, 0
		for k, u := range after {
			if u.Stage == hit && u.State == store.Done {
				done++
			}
			if u.State == store.Running {
				running++
				cut[k] = u.Attempts
			}
			if u.State == store.Done {
				if _, ok := doneAt[k]; !ok {
					doneAt[k] = u.Attempts
				}
			}
		}
		t.Logf("kill %d (%s): %s; stage %s then had %d of %d units done, %d running", i+1, target, how, hit, done, units[hit], running)
		if hit != target {
			t.Errorf("kill %d aimed at stage %s but the run was in stage %s", i+1, target, hit)
		}
		if i == 0 && running > 0 {
			checkRunningReset(t, chaos, after)
		}
	}
	chaos.runLogged(t)
	t.Logf("killed run: %d kills, %s in all", len(stageKills), time.Since(start).Round(time.Millisecond))
	chaos.noLeftovers(t)
	for _, s := range laterStages {
		if hits[s] < 2 {
			t.Errorf("stage %s was hit by %d kills; want at least 2", s, hits[s])
		}
	}

	// Every unit done, and none done before a kill started again.
	final := unitStates(t, chaos.store)
	if diff := cmp.Diff(keysOf(calmUnits), keysOf(final)); diff != "" {
		t.Errorf("the two stores have different units (-uninterrupted +killed):\n%s", diff)
	}
	for k, u := range final {
		if u.State != store.Done {
			t.Errorf("killed run: unit %s ended %s", u.Label, u.State)
		}
		if a, ok := doneAt[k]; ok && u.Attempts != a {
			t.Errorf("unit %s was done at a kill after %d attempts but ended after %d: finished work was redone", u.Label, a, u.Attempts)
		}
		if a, ok := cut[k]; ok && u.Attempts <= a {
			t.Errorf("unit %s was cut short by a kill after %d attempts but ended after %d: it was not run again", u.Label, a, u.Attempts)
		}
	}
	for _, st := range chaos.status(t).Stages {
		if st.Pending+st.Running+st.Failed > 0 {
			t.Errorf("polyglot status after the killed run: stage %s has units not done: %+v", st.Stage, st)
		}
	}
	if len(cut) == 0 {
		t.Errorf("no kill found a unit running: the kills did not interrupt any work")
	}
	redone := 0
	for k := range final {
		if _, ok := doneAt[k]; ok && final[k].Stage != "generate" {
			redone++
		}
	}
	t.Logf("%d later-stage units were done at some kill and never ran again; %d units were cut short and ran again", redone, len(cut))

	// Same results, row for row.
	a, b := storeDump(t, calm.store), storeDump(t, chaos.store)
	for _, table := range slices.Sorted(func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
	}) {
		if len(a[table]) == 0 {
			t.Errorf("the uninterrupted store has no %s rows: nothing to compare", table)
		}
		if diff := cmp.Diff(a[table], b[table]); diff != "" {
			t.Errorf("%s differ (-uninterrupted +killed: %d vs %d rows):\n%s", table, len(a[table]), len(b[table]), diff)
		}
	}
	// A plugin killed while saving a model leaves its temporary file
	// behind (the model itself is renamed into place, so never half
	// written): litter, not a wrong result, so it is only logged.
	var litter []string
	filepath.WalkDir(filepath.Join(chaos.store, "work"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			litter = append(litter, path)
		}
		return nil
	})
	if len(litter) > 0 {
		t.Logf("temporary files left in the killed run's work folder: %v", litter)
	}
	ra, rb := reportFiles(t, calm.store), reportFiles(t, chaos.store)
	if len(ra) < 5 {
		t.Errorf("the uninterrupted run wrote only %d report files", len(ra))
	}
	for name, data := range ra {
		if !bytes.Equal(data, rb[name]) {
			t.Errorf("report file %s differs between the uninterrupted and the killed run (%d vs %d bytes)%s", name, len(data), len(rb[name]), firstDifference(data, rb[name]))
		}
	}
	for name := range rb {
		if _, ok := ra[name]; !ok {
			t.Errorf("the killed run wrote a report file %s that the uninterrupted run did not", name)
		}
	}
}

// checkRunningReset runs `polyglot run --only stage=score` on a store a
// kill left with units marked running. That run does no work (the score
// waits for the rest), but it holds the store's lock, so it knows those
// units' process is dead: afterwards none is running and no attempt was
// counted.
func checkRunningReset(t *testing.T, c *chaosRun, before map[string]store.Unit) {
	t.Helper()
	c.runLogged(t, "--only", "stage=score")
	for k, u := range unitStates(t, c.store) {
		b := before[k]
		if u.State == store.Running {
			t.Errorf("unit %s is still marked running after the next run started (it was %s)", u.Label, b.State)
		}
		if u.Attempts != b.Attempts || (b.State != store.Running && u.State != b.State) {
			t.Errorf("unit %s went from %s after %d attempts to %s after %d in a run that should have done nothing", u.Label, b.State, b.Attempts, u.State, u.Attempts)
		}
	}
}

func newStagesRun(t *testing.T) *chaosRun {
	t.Helper()
	st := t.TempDir()
	marker := fmt.Sprintf("POLYGLOT_TEST_MARK=%d-%d", os.Getpid(), time.Now().UnixNano())
	return &chaosRun{
		marker: marker,
		spec:   filepath.Join(repoRoot, "examples/quickstart"),
		store:  st,
		vars:   []string{"--plugin-dir", t.TempDir(), "-var", "store=" + st, "-var", `languages=["de","es","ja"]`, "-var", "examples=60", "-var", "bootstrap=10000"},
		// Info logs carry the "stage started" lines the kills wait for;
		// stderr is a pipe, so they are JSON.
		env: append(os.Environ(), "POLYGLOT_CACHE=off", "POLYGLOT_LOG=info", "POLYGLOT_LOG_JSON=1", marker, markerPassed),
	}
}

// logEvent is one JSON log line of `polyglot run`.
type logEvent struct {
	Message string `json:"message"`
	Stage   string `json:"stage"`
	Units   int    `json:"units"`
	Took    int64  `json:"took"` // milliseconds
}

// eventWriter collects a process's stderr and passes its stage log lines on.
type eventWriter struct {
	mu     sync.Mutex
	all    bytes.Buffer
	rest   []byte
	events chan logEvent
}

func (w *eventWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.rest = append(w.rest, p...)
	for {
		i := bytes.IndexByte(w.rest, '\n')
		if i < 0 {
			break
		}
		var e logEvent
		if json.Unmarshal(w.rest[:i], &e) == nil && e.Stage != "" && w.events != nil {
			select {
			case w.events <- e:
			default: // only the first few stage lines matter
			}
		}
		w.rest = w.rest[i+1:]
	}
	return len(p), nil
}

func (w *eventWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// runLogged runs `polyglot run [args]` to its end and returns its stage log lines.
func (c *chaosRun) runLogged(t *testing.T, args ...string) []logEvent {
	t.Helper()
	w := &eventWriter{events: make(chan logEvent, 64)}
	cmd := c.command(append([]string{"run"}, args...)...)
	cmd.Stderr = w
	if err := cmd.Run(); err != nil {
		t.Fatalf("polyglot run: %v\n%s", err, w.String())
	}
	close(w.events)
	var out []logEvent
	for e := range w.events {
		out = append(out, e)
	}
	return out
}

// killInStage starts `polyglot run`, waits for it to log the start of
// stage and SIGKILLs it at a seeded random moment within it. In a stage of
// many units the moment is "once mark of its units are done" (mark drawn
// from the first 60% of the units left) plus a fraction of one unit's
// time; the score stage is one unit, killed a random 5-50% into the time
// it took in the uninterrupted run (took). It fails the test if the run
// ends before the kill. It returns how the moment was chosen.
func (c *chaosRun) killInStage(t *testing.T, stage string, rng *rand.Rand, took time.Duration, total int) string {
	t.Helper()
	w := &eventWriter{events: make(chan logEvent, 64)}
	cmd := c.command("run")
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fail := func(err error) {
		t.Helper()
		t.Fatalf("polyglot run ended (%v) before it could be killed in stage %s:\n%s", err, stage, w.String())
	}
	var left int
	for left == 0 {
		select {
		case e := <-w.events:
			if e.Message == "stage started" && e.Stage == stage {
				left = e.Units
			}
		case err := <-exited:
			fail(err)
		}
	}
	perUnit := took / time.Duration(max(total, 1))
	var how string
	if left > 1 {
		st, err := store.OpenReadOnly(c.store)
		if err != nil {
			t.Fatal(err)
		}
		done0 := total - left
		mark := done0 + rng.IntN(max(1, left*6/10))
		extra := time.Duration(rng.Float64() * float64(perUnit))
		for {
			n := 0
			us, err := st.Units(stage)
			if err != nil {
				st.Close()
				t.Fatal(err)
			}
			for _, u := range us {
				if u.State == store.Done {
					n++
				}
			}
			if n >= mark {
				break
			}
			select {
			case err := <-exited:
				st.Close()
				fail(err)
			case <-time.After(2 * time.Millisecond):
			}
		}
		st.Close()
		how = fmt.Sprintf("after %d of %d units done (%d were done at the start) + %s", mark, total, done0, extra.Round(time.Microsecond))
		select {
		case err := <-exited:
			fail(err)
		case <-time.After(extra):
		}
	} else {
		d := time.Duration((0.05 + 0.45*rng.Float64()) * float64(took))
		how = fmt.Sprintf("%s into the stage (it took %s uninterrupted)", d.Round(time.Millisecond), took)
		select {
		case err := <-exited:
			fail(err)
		case <-time.After(d):
		}
	}
	if n := len(c.processes()); n < 2 {
		t.Fatalf("found %d processes of the run; want the host and its plugins (the leftover check would see nothing)", n)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("polyglot run was not killed by the signal (it ended first?): %v\n%s", err, w.String())
	}
	return how
}

// unitStates reads every unit of a store (no process may be writing it).
func unitStates(t *testing.T, dir string) map[string]store.Unit {
	t.Helper()
	st, err := store.OpenReadOnly(dir)
	if errors.Is(err, store.ErrNoStore) {
		return map[string]store.Unit{}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	us, err := st.Units("")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Unit{}
	for _, u := range us {
		out[u.Key] = u
	}
	return out
}

func stageComplete(units map[string]store.Unit, stage string) bool {
	n := 0
	for _, u := range units {
		if u.Stage == stage {
			n++
			if u.State != store.Done {
				return false
			}
		}
	}
	return n > 0
}

// firstUnfinished is the stage a killed run was in: the first, in
// pipeline order, with a unit not done ("" when everything is done).
func firstUnfinished(units map[string]store.Unit) string {
	for _, s := range append([]string{"generate"}, laterStages...) {
		for _, u := range units {
			if u.Stage == s && u.State != store.Done {
				return s
			}
		}
	}
	return ""
}

func keysOf(units map[string]store.Unit) []string {
	var ks []string
	for k, u := range units {
		ks = append(ks, u.Stage+" "+k+" "+u.Label)
	}
	slices.Sort(ks)
	return ks
}

// storeDump reads the results tables of a store as text rows, in primary
// key order, without the columns that differ between two correct runs:
// update times, the store folder in checkpoint paths and training wall
// times. A trained model's bytes are part of its training's row.
func storeDump(t *testing.T, dir string) map[string][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.DBName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	queries := map[string]string{
		"metric values":     `SELECT metric, example_key, value, detail FROM metric_values ORDER BY metric, example_key`,
		"metric aggregates": `SELECT metric, teacher, language, strategy, seed, value, direction, n, stderr, detail FROM metric_aggregates ORDER BY metric, teacher, language, strategy, seed`,
		"trainings":         `SELECT unit_key, student, teacher, language, strategy, seed, status, checkpoint, detail FROM trainings ORDER BY unit_key`,
		"evaluations":       `SELECT role, student, student_family, teacher, strategy, language, seed, benchmark, score, stderr, detail FROM evals ORDER BY role, student, teacher, strategy, language, seed, benchmark`,
		"examples":          `SELECT unit_key, key, teacher, language, strategy, seed, idx, prompt, response FROM examples ORDER BY unit_key, idx, key`,
	}
	out := map[string][]string{}
	for table, q := range queries {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fields := make([]string, len(cols))
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				// %v prints a float64 in its shortest exact form: equal
				// text means equal bits.
				fields[i] = fmt.Sprintf("%s=%v", cols[i], v)
				if table == "trainings" {
					fields[i] = trainingField(t, dir, cols[i], v)
				}
			}
			out[table] = append(out[table], strings.Join(fields, " | "))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// trainingField normalises a trainings column: the checkpoint becomes its
// path inside the store and its file's size and bytes' digest, the detail
// loses the training's wall time.
func trainingField(t *testing.T, dir, col string, v any) string {
	t.Helper()
	switch col {
	case "checkpoint":
		path, _ := v.(string)
		rel, err := filepath.Rel(dir, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			return fmt.Sprintf("checkpoint=%v (outside the store)", v)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("trained model %s: %v", rel, err)
		}
		return fmt.Sprintf("checkpoint=%s (%d bytes, sha256 %x)", rel, len(b), sha256.Sum256(b))
	case "detail":
		var d map[string]any
		s, _ := v.(string)
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return "detail=" + s
		}
		if m, ok := d["metrics"].(map[string]any); ok {
			delete(m, "train_seconds")
		}
		b, _ := json.Marshal(d)
		return "detail=" + string(b)
	}
	return fmt.Sprintf("%s=%v", col, v)
}

// reportFiles reads the report folder the score stage wrote.
func reportFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "report"))
	if err != nil {
		t.Fatalf("report folder: %v", err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, "report", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// firstDifference shows where two files first differ, with some context.
func firstDifference(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from, to := max(0, i-120), i+120
	cut := func(x []byte) string { return string(x[min(from, len(x)):min(to, len(x))]) }
	return fmt.Sprintf(" at byte %d:\n  uninterrupted: %q\n  killed:        %q", i, cut(a), cut(b))
}
