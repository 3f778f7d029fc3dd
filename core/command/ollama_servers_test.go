package command_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/internal/ollamatest"
	"github.com/polyglot-teachers/polyglot/internal/slurmtest"
)

// The `server` block against a real Ollama: polyglot starts `ollama serve`
// itself (engine = "ollama"), on this machine or as a Slurm job, from a
// models folder the test prepares with the tiny random-weight model
// (internal/ollamatest). What Ollama answered is read from its own request
// log, so "no request paid twice" is counted by the server, not by polyglot.

type ollamaServerRun struct {
	spec, store, models string
	args                []string
}

// newOllamaServerRun sets up testdata/specs/ollama-server with n examples;
// on Slurm with slurm/server.hcl in place of server.hcl.
func newOllamaServerRun(t *testing.T, slurm bool, n int) *ollamaServerRun {
	t.Helper()
	tools := ollamatest.Find(t)
	if slurm {
		slurmtest.Require(t)
	}
	tmp := t.TempDir()
	r := &ollamaServerRun{spec: filepath.Join(repoRoot, "testdata/specs/ollama-server"), store: filepath.Join(tmp, "store"), models: ollamatest.Models(t, tools)}
	if slurm {
		r.spec = copySpec(t, r.spec, filepath.Join(tmp, "spec"), map[string]string{"server.hcl": "slurm/server.hcl"})
	}
	home := filepath.Join(tmp, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	r.args = []string{"--plugin-dir", t.TempDir(), "--allow-read", tmp,
		"-var", "store=" + r.store, "-var", "seeds=" + writeSeeds(t, tmp, n), "-var", "examples=" + strconv.Itoa(n),
		"-var", "ollama_bin=" + tools.Ollama, "-var", "models=" + r.models, "-var", "home=" + home}
	t.Cleanup(func() { r.killLeftovers(t) })
	return r
}

// copySpec copies a spec folder's .hcl files and templates to dst, taking
// the files named in replace from elsewhere in the folder.
func copySpec(t *testing.T, src, dst string, replace map[string]string) string {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		from := p
		if r, ok := replace[rel]; ok {
			from = filepath.Join(src, r)
		}
		b, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func (r *ollamaServerRun) command(verb string, extra ...string) *exec.Cmd {
	cmd := exec.Command(polyglotBin, append(append([]string{verb}, append(r.args, extra...)...), r.spec)...)
	// Every test asks the same prompts; a shared cache would answer them.
	cmd.Env = append(os.Environ(), "POLYGLOT_LOG=info", "POLYGLOT_CACHE=off")
	return cmd
}

// Ollama logs each answered request as `[GIN] ... | 200 | ... | POST "/v1/..."`
// once the handler has returned.
var ginLine = regexp.MustCompile(`\[GIN\].*\|\s*(\d{3})\s*\|.*\|\s*(GET|POST)\s+"([^"]+)"`)

// answered counts the requests the run's Ollama processes answered with
// 200, by path, over every attempt's log.
func (r *ollamaServerRun) answered(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	filepath.WalkDir(filepath.Join(r.store, "servers"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".log") {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, m := range ginLine.FindAllStringSubmatch(string(b), -1) {
			if m[1] == "200" {
				out[m[3]]++
			}
		}
		return nil
	})
	return out
}

// serverLog is the text of every log under the run's servers folder.
func (r *ollamaServerRun) serverLog() string {
	var sb strings.Builder
	filepath.WalkDir(filepath.Join(r.store, "servers"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".log") {
			b, _ := os.ReadFile(p)
			sb.WriteString("== " + p + "\n")
			sb.Write(b)
		}
		return nil
	})
	s := sb.String()
	if len(s) > 6000 {
		s = "…" + s[len(s)-6000:]
	}
	return s
}

// processes lists the live processes (not zombies) that run with this
// run's models folder in their environment: `ollama serve` and the model
// runners it starts, wherever they were started from.
func (r *ollamaServerRun) processes() (serve, all []int) {
	marker := []byte("OLLAMA_MODELS=" + r.models + "\x00")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, marker) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if _, rest, ok := strings.Cut(string(st), ") "); ok && strings.HasPrefix(rest, "Z") {
				continue
			}
		}
		all = append(all, pid)
		// `ollama serve` itself, not a shell that runs it.
		args := strings.Split(strings.TrimRight(string(must(os.ReadFile("/proc/"+e.Name()+"/cmdline"))), "\x00"), "\x00")
		if len(args) == 2 && filepath.Base(args[0]) == "ollama" && args[1] == "serve" {
			serve = append(serve, pid)
		}
	}
	return serve, all
}

// noneLeft fails the test if an Ollama process of this run outlives it
// (after a grace period for the stop to finish) and kills it.
func (r *ollamaServerRun) noneLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, all := r.processes()
		if len(all) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("Ollama processes left running: %v", describe(all))
			r.killLeftovers(t)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *ollamaServerRun) killLeftovers(t *testing.T) {
	_, all := r.processes()
	for _, pid := range all {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func must(b []byte, _ error) []byte { return b }

func describe(pids []int) []string {
	var out []string
	for _, pid := range pids {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		out = append(out, strconv.Itoa(pid)+": "+strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " "))
	}
	return out
}

// slurmServerJobs lists the Slurm jobs of the server "tiny" that are
// pending or running.
func slurmServerJobs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("squeue", "-h", "-o", "%i|%j|%T").Output()
	if err != nil {
		t.Fatalf("squeue: %v", err)
	}
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		if len(f) == 3 && strings.HasPrefix(f[1], "polyglot-server-tiny") && (f[2] == "RUNNING" || f[2] == "PENDING" || f[2] == "CONFIGURING" || f[2] == "COMPLETING") {
			ids = append(ids, f[0])
		}
	}
	return ids
}

func noSlurmJobLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(slurmServerJobs(t)) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if ids := slurmServerJobs(t); len(ids) > 0 {
		t.Errorf("Slurm server jobs left behind: %v", ids)
		exec.Command("scancel", ids...).Run()
	}
}

// checkOllamaRun checks a finished run: every example generated through
// Ollama, each answered once, and a diversity value from its embeddings.
func (r *ollamaServerRun) checkDone(t *testing.T, n int) {
	t.Helper()
	out := t.TempDir()
	cmd := r.command("export", "--format", "jsonl", "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, b)
	}
	if rows := readJSONL(t, filepath.Join(out, "data.jsonl")); len(rows) != n {
		t.Errorf("exported %d examples, want %d", len(rows), n)
	}
	found := 0
	for _, row := range readCSV(t, filepath.Join(out, "metrics.csv")) {
		if strings.HasPrefix(row["metric"], "diversity.") {
			if v, err := strconv.ParseFloat(row["value"], 64); err != nil || v <= 0 {
				t.Errorf("%s = %q, want a positive diversity", row["metric"], row["value"])
			}
			found++
		}
	}
	if found == 0 {
		t.Error("metrics.csv has no diversity value")
	}
	a := r.answered(t)
	if a["/v1/embeddings"] == 0 {
		t.Errorf("Ollama answered no embeddings request; it answered %v", a)
	}
}

func (r *ollamaServerRun) run(t *testing.T) {
	t.Helper()
	var errb bytes.Buffer
	cmd := r.command("run")
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s\nserver logs:\n%s", err, errb.String(), r.serverLog())
	}
}

// TestOllamaServer: polyglot starts Ollama on this machine, generates and
// measures through it, and stops it; `status` shows where it ran.
func TestOllamaServer(t *testing.T) {
	const n = 8
	r := newOllamaServerRun(t, false, n)
	r.run(t)
	r.noneLeft(t)
	if got := r.answered(t)["/v1/chat/completions"]; got != n {
		t.Errorf("Ollama answered %d chat completions for %d examples", got, n)
	}
	r.checkDone(t, n)
	out, err := r.command("status").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tiny", "stopped", filepath.Join(r.store, "servers", "tiny")} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestOllamaServerOnSlurm: the same server as a Slurm job. A run
// interrupted with Ctrl-C leaves no job and no process; the next run
// starts a new job and finishes, and that job is gone after it.
func TestOllamaServerOnSlurm(t *testing.T) {
	const n = 12
	r := newOllamaServerRun(t, true, n)
	var errb bytes.Buffer
	cmd := r.command("run")
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitAnswered(t, r, cmd, 2, &errb)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("want exit code 130 after Ctrl-C, got %v\n%s", err, errb.String())
	}
	noSlurmJobLeft(t)
	r.noneLeft(t)

	r.run(t)
	noSlurmJobLeft(t)
	r.noneLeft(t)
	r.checkDone(t, n)
	if got := r.answered(t)["/v1/chat/completions"]; got < n || got > n+2 {
		// Ctrl-C may cut off up to the teacher's concurrency (2) of
		// requests that Ollama had already answered.
		t.Errorf("Ollama answered %d chat completions for %d examples over both runs", got, n)
	}
}

// waitAnswered waits until Ollama has answered k chat completions of the run.
func waitAnswered(t *testing.T, r *ollamaServerRun, cmd *exec.Cmd, k int, errb *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for r.answered(t)["/v1/chat/completions"] < k {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("Ollama answered fewer than %d requests in 3 minutes:\n%s\nserver logs:\n%s", k, errb.String(), r.serverLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOllamaServerKilledMidRun SIGKILLs `ollama serve` while requests are in
// flight: polyglot starts it again, the unit resumes, every example is
// answered exactly once by Ollama (none paid twice), and no process of
// either attempt (the model runner included) is left.
func TestOllamaServerKilledMidRun(t *testing.T) {
	const n = 24
	r := newOllamaServerRun(t, false, n)
	var errb bytes.Buffer
	cmd := r.command("run")
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitAnswered(t, r, cmd, n/3, &errb)
	serve, _ := r.processes()
	if len(serve) != 1 {
		t.Fatalf("want one `ollama serve`, found %v", describe(serve))
	}
	syscall.Kill(serve[0], syscall.SIGKILL)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s\nserver logs:\n%s", err, errb.String(), r.serverLog())
		}
	case <-time.After(5 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("run did not finish:\n%s", errb.String())
	}
	if !strings.Contains(errb.String(), "server died; starting it again") {
		t.Errorf("the log does not say the server was restarted:\n%s", errb.String())
	}
	if got := r.answered(t)["/v1/chat/completions"]; got != n {
		t.Errorf("Ollama answered %d chat completions for %d examples", got, n)
	}
	r.noneLeft(t)
	r.checkDone(t, n)
}

// TestOllamaServerCtrlC interrupts a run on this machine: exit 130 and no
// Ollama process left.
func TestOllamaServerCtrlC(t *testing.T) {
	r := newOllamaServerRun(t, false, 24)
	var errb bytes.Buffer
	cmd := r.command("run")
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitAnswered(t, r, cmd, 2, &errb)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("want exit code 130 after Ctrl-C, got %v\n%s", err, errb.String())
	}
	r.noneLeft(t)
}

// TestOllamaServerPerplexityRefused: the perplexity metric's endpoint back
// end on the managed Ollama, which returns log-probabilities of generated
// tokens only, fails its units with a message that names the engines that
// can, while generation and diversity go through.
func TestOllamaServerPerplexityRefused(t *testing.T) {
	const n = 4
	r := newOllamaServerRun(t, false, n)
	tmp := t.TempDir()
	r.spec = copySpec(t, r.spec, filepath.Join(tmp, "spec"), nil)
	b, err := os.ReadFile(filepath.Join(repoRoot, "testdata/specs/ollama-server/perplexity/metrics.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.spec, "metrics.hcl"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd := r.command("run")
	cmd.Stderr = &errb
	cmd.Stdout = &errb
	err = cmd.Run()
	r.noneLeft(t)
	if err == nil {
		t.Fatalf("run succeeded with perplexity through Ollama:\n%s", errb.String())
	}
	for _, want := range []string{"cannot return the log-probabilities of a prompt's tokens", "vLLM"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, errb.String())
		}
	}
	if got := r.answered(t)["/v1/chat/completions"]; got != n {
		t.Errorf("Ollama answered %d chat completions for %d examples", got, n)
	}
	if got := r.answered(t)["/v1/completions"]; got > 1 {
		t.Errorf("the refused metric sent %d completions requests; one probe at most", got)
	}
}
