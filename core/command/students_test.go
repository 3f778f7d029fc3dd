package command_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/internal/slurmtest"
)

// These tests run students through the whole engine with the trl trainer:
// the trainer renders its real training and evaluation jobs, the engine runs
// them on the student's executor (local processes, or sbatch on the Slurm
// cluster .ci/slurm-up.sh starts), and fake python / accelerate / lighteval
// (testdata/specs/students/fakebin) stand in for the GPU software, writing
// results in the formats the trainer parses.

// studentsFixture is a real lighteval results file (from the trl trainer's
// own tests) that the fake lighteval copies, with per-role scores.
const studentsFixture = "plugins/trainers/trl/testdata/lighteval/results/scratch/students/gemma-de/merged/results_2026-03-14T09-12-44.318012.json"

// fakeScores are the scores the fake lighteval reports, by what it evaluates.
var fakeScores = map[string]map[string]float64{
	"base":      {"global_mmlu_lite": 0.3125, "mgsm": 0.104},
	"reference": {"global_mmlu_lite": 0.5050, "mgsm": 0.312},
	"student":   {"global_mmlu_lite": 0.4525, "mgsm": 0.232},
}

// gpuNode is a folder of fake GPU-node tools put first on PATH, and the log
// they append to (one line per training or evaluation they run).
type gpuNode struct {
	bin, log string
	env      []string
}

func newGPUNode(t *testing.T, withNvidiaSMI bool) *gpuNode {
	t.Helper()
	dir := t.TempDir()
	n := &gpuNode{bin: filepath.Join(dir, "bin"), log: filepath.Join(dir, "fake.log")}
	if err := os.Mkdir(n.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	copies := map[string]string{}
	for _, name := range []string{"python", "accelerate", "lighteval"} {
		copies[name] = filepath.Join(repoRoot, "testdata/specs/students/fakebin", name)
	}
	if withNvidiaSMI {
		copies["nvidia-smi"] = filepath.Join(repoRoot, "plugins/trainers/trl/testdata/bin/nvidia-smi-ok")
	}
	for name, src := range copies {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(n.bin, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n.env = []string{
		"PATH=" + n.bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"POLYGLOT_LOG=warn",
		"POLYGLOT_CACHE=off",
		"POLYGLOT_FAKE_LOG=" + n.log,
		"POLYGLOT_FAKE_FIXTURE=" + filepath.Join(repoRoot, studentsFixture),
	}
	return n
}

// command is polyglot with the node's tools on PATH (and extra variables).
func (n *gpuNode) command(extraEnv []string, args ...string) *exec.Cmd {
	cmd := exec.Command(polyglotBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(append(os.Environ(), n.env...), extraEnv...)
	return cmd
}

func (n *gpuNode) run(t *testing.T, extraEnv []string, args ...string) result {
	t.Helper()
	cmd := n.command(extraEnv, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// fakeRun is one line of the fake tools' log.
type fakeRun struct {
	Kind, Role, SlurmJob, Via, Dir string
}

func (n *gpuNode) runs(t *testing.T) []fakeRun {
	t.Helper()
	b, err := os.ReadFile(n.log)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var out []fakeRun
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		r := fakeRun{Kind: f[0], Role: f[1]}
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "slurm_job":
				r.SlurmJob = v
			case "via":
				r.Via = v
			case "dir":
				r.Dir = v
			}
		}
		out = append(out, r)
	}
	return out
}

func (n *gpuNode) runsIn(t *testing.T, dir string) []fakeRun {
	var out []fakeRun
	for _, r := range n.runs(t) {
		if r.Dir == dir {
			out = append(out, r)
		}
	}
	return out
}

type studentUnit struct {
	Key     string `json:"key"`
	Stage   string `json:"stage"`
	Label   string `json:"label"`
	Student string `json:"student"`
	Role    string `json:"role"`
	State   string `json:"state"`
}

// studentUnits lists the train and evaluate units of the plan.
func studentUnits(t *testing.T, pd, dir string, vars ...string) []studentUnit {
	t.Helper()
	args := []string{"plan", "--json", "--plugin-dir", pd}
	for _, v := range vars {
		args = append(args, "-var", v)
	}
	r := polyglot(t, repoRoot, append(args, dir)...)
	if r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	var out struct {
		Units []studentUnit `json:"units"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	var us []studentUnit
	for _, u := range out.Units {
		if u.Stage == "train" || u.Stage == "evaluate" {
			us = append(us, u)
		}
	}
	return us
}

// jobDir is where the trl trainer puts a unit's job: inside the unit's
// work folder (engine.Runner.WorkDir).
func jobDir(storeDir string, u studentUnit) string {
	sub := "train"
	if u.Stage == "evaluate" {
		sub = "eval-lighteval"
	}
	return filepath.Join(storeDir, "work", u.Stage, u.Key[:16], sub)
}

// scontrolJobs returns Slurm's records (`scontrol show job -o`) of the
// given job id, or of every job it still knows when id is "".
func scontrolJobs(t *testing.T, id string) []map[string]string {
	t.Helper()
	args := []string{"show", "job", "-o"}
	if id != "" {
		args = append(args, id)
	}
	out, err := exec.Command("scontrol", args...).Output()
	if err != nil {
		t.Fatalf("scontrol %s: %v", strings.Join(args, " "), err)
	}
	var recs []map[string]string
	for _, line := range strings.Split(string(out), "\n") {
		rec := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				if _, dup := rec[k]; !dup {
					rec[k] = v
				}
			}
		}
		if rec["JobId"] != "" {
			recs = append(recs, rec)
		}
	}
	return recs
}

// submissionsIn counts the Slurm jobs whose working folder is dir: every
// sbatch of a job gives one (finished jobs stay listed for MinJobAge, an
// hour on the test cluster).
func submissionsIn(t *testing.T, dir string) []string {
	var ids []string
	for _, rec := range scontrolJobs(t, "") {
		if rec["WorkDir"] == dir {
			ids = append(ids, rec["JobId"])
		}
	}
	return ids
}

// cancelLeftovers scancels, by id, the Slurm jobs a test's store recorded,
// so that a failed or killed test leaves nothing running on the cluster.
func cancelLeftovers(t *testing.T, storeDir string) {
	t.Cleanup(func() {
		_ = filepath.WalkDir(filepath.Join(storeDir, "work"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != executor.StateFile {
				return nil
			}
			if rec, err := executor.LoadState(filepath.Dir(p)); err == nil && rec.Handle.Backend == "slurm" && rec.Handle.ID != "" {
				_ = exec.Command("scancel", rec.Handle.ID).Run()
			}
			return nil
		})
	})
}

// checkStudents checks a finished run: every train/evaluate unit is done;
// each job ran exactly once on its student's executor (backend by student),
// with Slurm jobs really submitted (job.sbatch, a Slurm job id that Slurm
// knows as COMPLETED, the fake tools saw SLURM_JOB_ID); the store holds one
// eval per role and benchmark with the fake's scores; the report is written.
func checkStudents(t *testing.T, n *gpuNode, units []studentUnit, storeDir string, backend map[string]string) {
	t.Helper()
	for _, u := range units {
		if backend[u.Student] == "" {
			continue
		}
		if u.State != "done" {
			t.Errorf("%s is %s after the run", u.Label, u.State)
		}
		dir := jobDir(storeDir, u)
		rec, err := executor.LoadState(dir)
		if u.Stage == "train" && u.Role == "base" {
			// trl's base is the pretrained model itself: no job.
			if err == nil {
				t.Errorf("%s: a job was run for the base model: %+v", u.Label, rec.Handle)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: no job state: %v", u.Label, err)
			continue
		}
		h := rec.Handle
		if h.Backend != backend[u.Student] || h.Key != u.Key || h.Attempt != 0 {
			t.Errorf("%s: job %+v, want backend %s, key %s, attempt 0", u.Label, h, backend[u.Student], u.Key)
		}
		runs := n.runsIn(t, dir)
		if len(runs) != 1 {
			t.Errorf("%s: the fake tools ran %d times in %s, want once: %+v", u.Label, len(runs), dir, runs)
			continue
		}
		if runs[0].Role != u.Role {
			t.Errorf("%s: the job worked on a %s model", u.Label, runs[0].Role)
		}
		sbatch, sbErr := os.ReadFile(filepath.Join(dir, "logs", "job.sbatch"))
		switch h.Backend {
		case "slurm":
			if sbErr != nil {
				t.Errorf("%s: no logs/job.sbatch: %v", u.Label, sbErr)
			} else if s := string(sbatch); !strings.Contains(s, "#SBATCH --partition=debug") || !strings.Contains(s, "#SBATCH --time=5\n") || strings.Contains(s, "--gres") {
				// gpus = 0 in the executor block overrides the trainer's GPU.
				t.Errorf("%s: job.sbatch lacks the executor block's partition/time or asks for a GPU:\n%s", u.Label, s)
			}
			if runs[0].SlurmJob != h.ID {
				t.Errorf("%s: the job ran under SLURM_JOB_ID=%s, the state file says %s", u.Label, runs[0].SlurmJob, h.ID)
			}
			recs := scontrolJobs(t, h.ID)
			if len(recs) != 1 || recs[0]["WorkDir"] != dir || recs[0]["JobState"] != "COMPLETED" {
				t.Errorf("%s: Slurm's record of job %s: %v", u.Label, h.ID, recs)
			}
			if ids := submissionsIn(t, dir); len(ids) != 1 {
				t.Errorf("%s: %d Slurm jobs ran in %s (%v), want 1", u.Label, len(ids), dir, ids)
			}
		case "local":
			if sbErr == nil {
				t.Errorf("%s: a local job has a job.sbatch", u.Label)
			}
			if _, err := os.Stat(filepath.Join(dir, "logs", "run.sh")); err != nil {
				t.Errorf("%s: no local runner script: %v", u.Label, err)
			}
			if runs[0].SlurmJob != "none" {
				t.Errorf("%s: a local job ran inside Slurm job %s", u.Label, runs[0].SlurmJob)
			}
		}
	}

	st, err := store.OpenReadOnly(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evals, err := st.Evals()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range evals {
		want, ok := fakeScores[e.Role][e.Benchmark]
		if !ok || math.Abs(e.Score-want) > 1e-9 || !(e.Stderr > 0) {
			t.Errorf("eval %s/%s/%s: score %v ± %v, want %v with the fixture's stderr", e.Student, e.Role, e.Benchmark, e.Score, e.Stderr, want)
		}
		got[e.Student]++
	}
	for s := range backend {
		if got[s] != 6 { // base, reference, student x 2 benchmarks
			t.Errorf("student %s has %d evals in the store, want 6 (all: %v)", s, got[s], got)
		}
	}
	if _, err := os.Stat(filepath.Join(storeDir, "report", "report.html")); err != nil {
		t.Errorf("no report: %v", err)
	}
	var rep struct {
		Result struct {
			Cells []struct {
				Teacher   string  `json:"teacher"`
				Extrinsic float64 `json:"extrinsic"`
			} `json:"cells"`
		} `json:"result"`
	}
	b, err := os.ReadFile(filepath.Join(storeDir, "report", "report.json"))
	if err == nil {
		err = json.Unmarshal(b, &rep)
	}
	// PGR per benchmark (student-base)/(reference-base), then the mean.
	wantPGR := ((0.4525-0.3125)/(0.5050-0.3125) + (0.232-0.104)/(0.312-0.104)) / 2
	if err != nil || len(rep.Result.Cells) != 1 || math.Abs(rep.Result.Cells[0].Extrinsic-wantPGR) > 1e-9 {
		t.Errorf("report.json: %v, cells %+v, want extrinsic %v", err, rep.Result.Cells, wantPGR)
	}
}

// TestStudentsLocalExecutor: a trl student on executor "local" {} through
// the whole run; with two GPUs in its config the training goes through
// accelerate, and require_local_gpu asks the fake nvidia-smi.
func TestStudentsLocalExecutor(t *testing.T) {
	start := time.Now()
	pd := installEcho(t)
	dir := filepath.Join(repoRoot, "testdata/specs/students/local")
	n := newGPUNode(t, true)
	storeDir := t.TempDir()
	r := n.run(t, nil, "run", "--plugin-dir", pd, "-var", "store="+storeDir, dir)
	if r.code != 0 || !strings.Contains(r.stdout, "Done. Report:") {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	units := studentUnits(t, pd, dir, "store="+storeDir)
	checkStudents(t, n, units, storeDir, map[string]string{"olmo": "local"})
	for _, fr := range n.runs(t) {
		if fr.Kind == "train" && fr.Via != "accelerate" {
			t.Errorf("a 2-GPU training ran via %s, want accelerate launch", fr.Via)
		}
	}
	if gpuJobs := checkJobs(t, storeDir, units, map[string]string{"olmo": "local"}); gpuJobs == 0 {
		t.Error("no job with GPUs recorded for a 2-GPU training")
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// TestStudentsNeedAGPU: with require_local_gpu and no nvidia-smi, the
// training units fail with the trainer's "no GPU" explanation before any
// training job starts.
func TestStudentsNeedAGPU(t *testing.T) {
	if _, err := exec.LookPath("nvidia-smi"); err == nil {
		t.Skip("this machine has nvidia-smi")
	}
	pd := installEcho(t)
	n := newGPUNode(t, false)
	r := n.run(t, nil, "run", "--plugin-dir", pd, "-var", "store="+t.TempDir(), filepath.Join(repoRoot, "testdata/specs/students/local"))
	if r.code == 0 || !strings.Contains(r.stderr, "train olmo reference/de seed 1") || !strings.Contains(r.stderr, "no GPU") || !strings.Contains(r.stderr, "nvidia-smi not found") {
		t.Errorf("want the reference training to fail for lack of a GPU, got exit %d:\n%s", r.code, r.stderr)
	}
	// Evaluation jobs check CUDA on their node (the eval script's preflight).
	for _, fr := range n.runs(t) {
		if fr.Kind == "train" {
			t.Errorf("a training ran without a GPU: %+v", fr)
		}
	}
}

// TestStudentsTimeLimitLocal: a job killed for its time limit is a failure
// naming the unit, TIMEOUT and what to raise; running again after the
// cause is gone retries the job as attempt 1 instead of re-reporting the
// recorded failure.
func TestStudentsTimeLimitLocal(t *testing.T) {
	start := time.Now()
	pd := installEcho(t)
	dir := filepath.Join(repoRoot, "testdata/specs/students/local")
	n := newGPUNode(t, true)
	storeDir := t.TempDir()
	vars := []string{"-var", "store=" + storeDir, "-var", "time_limit=00:00:03"}
	r := n.run(t, []string{"POLYGLOT_FAKE_TRAIN_SLEEP=60"}, append(append([]string{"run", "--plugin-dir", pd}, vars...), dir)...)
	if r.code == 0 {
		t.Fatalf("a training past its time limit succeeded:\n%s", r.stderr)
	}
	for _, want := range []string{
		"train olmo reference/de seed 1: ",
		"trl-train ended TIMEOUT",
		`raise the time limit (3s) in the trainer config of student "olmo" (time_limit)`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("run output lacks %q:\n%s", want, r.stderr)
		}
	}
	r = n.run(t, nil, append(append([]string{"run", "--plugin-dir", pd}, vars...), dir)...)
	if r.code != 0 {
		t.Fatalf("second run: exit %d\n%s", r.code, r.stderr)
	}
	for _, u := range studentUnits(t, pd, dir, "store="+storeDir, "time_limit=00:00:03") {
		if u.Stage != "train" || u.Role == "base" {
			continue
		}
		jd := jobDir(storeDir, u)
		rec, err := executor.LoadState(jd)
		if err != nil || rec.Handle.Attempt != 1 {
			t.Errorf("%s: state %+v, %v; want attempt 1", u.Label, rec.Handle, err)
		}
		if _, err := os.Stat(filepath.Join(jd, "logs.attempt-0")); err != nil {
			t.Errorf("%s: the timed-out attempt's logs are gone: %v", u.Label, err)
		}
		if runs := n.runsIn(t, jd); len(runs) != 2 {
			t.Errorf("%s: trained %d times, want 2 (timed out, then retried)", u.Label, len(runs))
		}
		if u.State != "done" {
			t.Errorf("%s is %s", u.Label, u.State)
		}
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// TestStudentsSlurmExecutor: student on_slurm's jobs go through sbatch to
// the real cluster while student on_local's run as local processes, in one
// run; everything is evaluated, stored and reported.
func TestStudentsSlurmExecutor(t *testing.T) {
	slurmtest.Require(t)
	start := time.Now()
	pd := installEcho(t)
	dir := filepath.Join(repoRoot, "testdata/specs/students/slurm")
	n := newGPUNode(t, false)
	storeDir := t.TempDir()
	cancelLeftovers(t, storeDir)
	r := n.run(t, nil, "run", "--plugin-dir", pd, "-var", "store="+storeDir, dir)
	if r.code != 0 || !strings.Contains(r.stdout, "Done. Report:") {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	units := studentUnits(t, pd, dir, "store="+storeDir)
	checkStudents(t, n, units, storeDir, map[string]string{"on_slurm": "slurm", "on_local": "local"})
	checkJobs(t, storeDir, units, map[string]string{"on_slurm": "slurm", "on_local": "local"})
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

// checkJobs: every job of the run is in the store, succeeded, on its
// student's backend, with its times, so GPU-hours are recorded rather than
// estimated; one job per unit but the base model's training (it trains
// nothing). It returns how many jobs asked for GPUs.
func checkJobs(t *testing.T, storeDir string, units []studentUnit, backend map[string]string) (gpuJobs int) {
	t.Helper()
	st, err := store.OpenReadOnly(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	jobs, err := st.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	withJob := map[string]bool{}
	for _, u := range units {
		if u.Stage != "train" || u.Role != "base" {
			withJob[u.Key] = true
		}
	}
	for _, j := range jobs {
		delete(withJob, j.Key)
		if j.State != "SUCCEEDED" || j.Backend != backend[j.Student] || j.Started.IsZero() || j.Ended.Before(j.Started) {
			t.Errorf("job record %+v: want a SUCCEEDED %s job with its times", j, backend[j.Student])
		}
		if j.GPUs > 0 {
			gpuJobs++
			if h := j.GPUHours(time.Now()); h <= 0 || h != float64(j.GPUs)*j.Ended.Sub(j.Started).Hours() {
				t.Errorf("job %s: %v GPU-hours for %d GPUs over %s", j.Name, h, j.GPUs, j.Ended.Sub(j.Started))
			}
		}
	}
	if len(withJob) > 0 {
		t.Errorf("the store records %d jobs and none for units %v", len(jobs), withJob)
	}
	return gpuJobs
}

// TestStudentsSlurmRestart kills polyglot (SIGKILL, with its plugins)
// while a Slurm training job of student on_slurm runs; the next run
// re-attaches to that same job — no second sbatch for its key — and
// completes the experiment.
func TestStudentsSlurmRestart(t *testing.T) {
	slurmtest.Require(t)
	start := time.Now()
	pd := installEcho(t)
	dir := filepath.Join(repoRoot, "testdata/specs/students/slurm")
	n := newGPUNode(t, false)
	storeDir := t.TempDir()
	cancelLeftovers(t, storeDir)
	args := []string{"run", "--plugin-dir", pd, "-var", "store=" + storeDir, "--only", "student=on_slurm", dir}

	cmd := n.command([]string{"POLYGLOT_FAKE_TRAIN_SLEEP=25"}, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so the kill takes its plugins too
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var running fakeRun
	deadline := time.Now().Add(3 * time.Minute)
	for running.Dir == "" {
		select {
		case err := <-exited:
			t.Fatalf("polyglot ended (%v) before a training job ran:\n%s", err, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("no Slurm training job started within 3 minutes (queue: %s)", squeue())
		}
		for _, fr := range n.runs(t) {
			if fr.Kind == "train" && fr.SlurmJob != "none" {
				running = fr
			}
		}
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited

	// Every training job submitted so far, by folder; the one seen running
	// must still be running, or the restart would not re-attach to a live job.
	before := map[string]string{}
	for _, u := range studentUnits(t, pd, dir, "store="+storeDir) {
		if u.Stage != "train" || u.Student != "on_slurm" {
			continue
		}
		if rec, err := executor.LoadState(jobDir(storeDir, u)); err == nil {
			before[jobDir(storeDir, u)] = rec.Handle.ID
		}
	}
	id := before[running.Dir]
	if id == "" || id != running.SlurmJob {
		t.Fatalf("the running job (%+v) is not recorded in its folder: %v", running, before)
	}
	out, _ := exec.Command("squeue", "-h", "-j", id, "-o", "%T").Output()
	if st := strings.TrimSpace(string(out)); st != "RUNNING" && st != "PENDING" && st != "CONFIGURING" {
		t.Fatalf("Slurm job %s is %q right after the kill; it should still be running (raise POLYGLOT_FAKE_TRAIN_SLEEP)", id, st)
	}
	killed := time.Now()

	// Run again, this time the whole experiment so that it ends with a
	// report (on_local's jobs are local and quick).
	r := n.run(t, nil, "run", "--plugin-dir", pd, "-var", "store="+storeDir, dir)
	if r.code != 0 {
		t.Fatalf("run after the kill: exit %d\n%s", r.code, r.stderr)
	}
	if took := time.Since(killed); took < 5*time.Second {
		t.Errorf("the second run took %s: it cannot have waited for the sleeping job", took)
	}
	for jd, id := range before {
		rec, err := executor.LoadState(jd)
		if err != nil || rec.Handle.ID != id || rec.Handle.Attempt != 0 {
			t.Errorf("%s: state after restart %+v (%v), want job %s attempt 0", jd, rec.Handle, err, id)
		}
		if ids := submissionsIn(t, jd); len(ids) != 1 || ids[0] != id {
			t.Errorf("%s: Slurm ran jobs %v there, want only %s", jd, ids, id)
		}
		if runs := n.runsIn(t, jd); len(runs) != 1 {
			t.Errorf("%s: trained %d times, want once", jd, len(runs))
		}
	}
	units := studentUnits(t, pd, dir, "store="+storeDir)
	checkStudents(t, n, units, storeDir, map[string]string{"on_slurm": "slurm", "on_local": "local"})
	t.Logf("took %s (killed after %s)", time.Since(start).Round(time.Millisecond), killed.Sub(start).Round(time.Millisecond))
}

// TestStudentsSlurmTimeLimit: Slurm kills a training at its time limit
// (the smallest Slurm has, one minute) and the run reports the unit,
// TIMEOUT and the executor block's time to raise. The published reference
// is used so that only one job holds a CPU of the test cluster.
func TestStudentsSlurmTimeLimit(t *testing.T) {
	slurmtest.Require(t)
	if testing.Short() {
		t.Skip("waits over a minute for Slurm's time limit")
	}
	start := time.Now()
	pd := installEcho(t)
	dir := filepath.Join(repoRoot, "testdata/specs/students/slurm")
	n := newGPUNode(t, false)
	storeDir := t.TempDir()
	cancelLeftovers(t, storeDir)
	r := n.run(t, []string{"POLYGLOT_FAKE_TRAIN_SLEEP=600"}, "run", "--plugin-dir", pd, "--only", "student=on_slurm",
		"-var", "store="+storeDir, "-var", "slurm_time=00:01:00", "-var", "reference=allenai/Olmo-3-1025-7B-Instruct", dir)
	if r.code == 0 {
		t.Fatalf("a training past its time limit succeeded:\n%s", r.stderr)
	}
	for _, want := range []string{
		"train on_slurm on echo/de seed 1: ",
		"trl-train ended TIMEOUT",
		"Slurm state TIMEOUT",
		`raise time (now "00:01:00") in the executor block of student "on_slurm"`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("run output lacks %q:\n%s", want, r.stderr)
		}
	}
	t.Logf("took %s", time.Since(start).Round(time.Millisecond))
}

func squeue() string {
	out, _ := exec.Command("squeue", "-h", "-o", "%i %T %j").CombinedOutput()
	return strings.TrimSpace(string(out))
}
