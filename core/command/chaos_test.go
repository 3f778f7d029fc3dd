package command_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// chatServer is an OpenAI-compatible chat completions endpoint on
// 127.0.0.1. Its answer is a function of the request's last user message
// only, so two runs that ask the same things get the same data, and it
// counts every request it answers (also those whose caller died).
type chatServer struct {
	t        *testing.T
	ln       net.Listener
	srv      *http.Server
	delay    time.Duration // per request, so that requests are in flight
	requests atomic.Int64  // requests received
	inflight atomic.Int64  // received and not yet answered
	bad      atomic.Int64  // malformed requests (the test fails on any)
}

// startChatServer listens on addr ("127.0.0.1:0" for any port).
func startChatServer(t *testing.T, addr string, delay time.Duration) *chatServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("test server on %s: %v (the second server reuses the first one's port; run the test again if another process took it)", addr, err)
	}
	s := &chatServer{t: t, ln: ln, delay: delay}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.complete)
	s.srv = &http.Server{Handler: mux}
	go s.srv.Serve(ln)
	t.Cleanup(s.close)
	return s
}

func (s *chatServer) baseURL() string { return "http://" + s.ln.Addr().String() + "/v1" }
func (s *chatServer) close()          { s.srv.Close() }

type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

func (s *chatServer) complete(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	var req chatRequest
	if r.Header.Get("Authorization") != "Bearer sk-test-not-a-real-key" {
		s.bad.Add(1)
		http.Error(w, `{"error":{"message":"bad key","type":"invalid_request_error"}}`, http.StatusUnauthorized)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 || req.Model == "" {
		s.bad.Add(1)
		http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	last, in := "", 0
	for _, m := range req.Messages {
		in += len(m.Content)/4 + 4
		if m.Role == "user" {
			last = m.Content
		}
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	answer := answerFor(last)
	sum := sha256.Sum256([]byte(last))
	body, _ := json.Marshal(map[string]any{
		"id":      "chatcmpl-" + hex.EncodeToString(sum[:12]),
		"object":  "chat.completion",
		"created": 1767225600,
		"model":   req.Model,
		"choices": []map[string]any{{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": answer},
			"logprobs":      nil,
			"finish_reason": "stop",
		}},
		"usage": map[string]int{"prompt_tokens": in, "completion_tokens": len(answer)/4 + 1, "total_tokens": in + len(answer)/4 + 1},
	})
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// answerFor derives a plausible German answer from the prompt.
func answerFor(prompt string) string {
	prompt = strings.TrimSpace(prompt)
	sum := sha256.Sum256([]byte(prompt))
	words := strings.Fields(prompt)
	if len(words) > 12 {
		words = words[:12]
	}
	return fmt.Sprintf("Gute Frage. Zu „%s …“: Die Antwort hängt vom Zusammenhang ab; Prüfziffer %s.", strings.Join(words, " "), hex.EncodeToString(sum[:6]))
}

// writeSeeds writes n distinct German seed prompts derived from the
// quickstart's 100: every request of the run is then a different call, so
// the store's response cache cannot answer one from another and every
// re-sent request reaches the server.
func writeSeeds(t testing.TB, dir string, n int) string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "examples/quickstart/data/seeds/de.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type row struct {
		ID         string   `json:"id"`
		Language   string   `json:"language"`
		Prompt     string   `json:"prompt"`
		Response   string   `json:"response"`
		Strategies []string `json:"strategies,omitempty"`
	}
	var base []row
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		base = append(base, r)
	}
	if len(base) == 0 {
		t.Fatal("no seed rows")
	}
	path := filepath.Join(dir, "seeds.jsonl")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for i := 0; i < n; i++ {
		r := base[i%len(base)]
		if v := i / len(base); v > 0 {
			r.ID = r.ID + "-v" + strconv.Itoa(v)
			r.Prompt = r.Prompt + " (Variante " + strconv.Itoa(v) + ")"
		}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// chaosRun is one experiment: its spec variables and environment.
type chaosRun struct {
	spec  string // spec folder
	store string
	vars  []string
	env   []string
	// marker is an environment entry that every process of this run, the
	// plugins included, inherits: it finds processes that outlive a kill.
	marker string
}

// newChaosRun sets up an experiment of the spec in testdata/specs/<spec>
// with its own store.
func newChaosRun(t testing.TB, spec, seeds, baseURL string, examples, concurrency int) *chaosRun {
	store := t.TempDir()
	marker := fmt.Sprintf("POLYGLOT_TEST_MARK=%d-%d", os.Getpid(), time.Now().UnixNano())
	return &chaosRun{
		marker: marker,
		spec:   filepath.Join(repoRoot, "testdata/specs", spec),
		store:  store,
		vars: []string{
			"--plugin-dir", t.TempDir(), // built-in plugins only
			"-var", "store=" + store,
			"-var", "seeds=" + seeds,
			"-var", "base_url=" + baseURL,
			"-var", "examples=" + strconv.Itoa(examples),
			"-var", "concurrency=" + strconv.Itoa(concurrency),
		},
		// The shared response cache would answer re-sent requests and hide them.
		env: append(os.Environ(), "POLYGLOT_CACHE=off", "POLYGLOT_LOG=warn", marker, markerPassed),
	}
}

func (c *chaosRun) command(args ...string) *exec.Cmd {
	cmd := exec.Command(polyglotBin, append(append(args, c.vars...), c.spec)...)
	cmd.Dir = repoRoot
	cmd.Env = c.env
	return cmd
}

// run runs a polyglot command to its end and fails the test unless it succeeds.
func (c *chaosRun) run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := c.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("polyglot %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func (c *chaosRun) status(t testing.TB) statusSummary {
	t.Helper()
	var s struct {
		Summary statusSummary `json:"summary"`
	}
	out := c.run(t, "status", "--json")
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return s.Summary
}

type statusSummary struct {
	Stages []struct {
		Stage                          string
		Pending, Running, Done, Failed int
	}
	Total struct {
		Examples, Failures, Retrying int
	}
}

// exported runs `polyglot export --format both` into a new folder and
// returns the files' contents by name.
func (c *chaosRun) exported(t testing.TB) map[string][]byte {
	t.Helper()
	out := t.TempDir()
	c.run(t, "export", "--format", "both", "--out", out)
	files := map[string][]byte{}
	for _, name := range []string{"data.jsonl", "data.parquet", "README.md"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("export did not write %s: %v", name, err)
		}
		files[name] = b
	}
	// Side files exist only when there is something to put in them.
	for _, name := range []string{"metrics.csv", "LICENSE.md"} {
		if b, err := os.ReadFile(filepath.Join(out, name)); err == nil {
			files[name] = b
		}
	}
	return files
}

const (
	chaosExamples    = 10000
	chaosConcurrency = 16
	chaosKills       = 20
)

// TestChaosKillAndResume is the crash-safety acceptance test. One run is
// SIGKILLed at 20 moments while requests are in flight and restarted
// after each kill; another, in a second store against a second server,
// runs uninterrupted. Both must export byte-identical data; the killed
// run may re-send at most its concurrency's worth of requests per kill;
// and its store must hold every example exactly once.
func TestChaosKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: about a minute of real runs")
	}
	seeds := writeSeeds(t, t.TempDir(), chaosExamples)

	// The teacher's base_url is part of the plan's unit keys, and so of
	// the exported ids: the two servers take the same port in turn.
	calmSrv := startChatServer(t, "127.0.0.1:0", time.Millisecond)
	addr := calmSrv.ln.Addr().String()
	calm := newChaosRun(t, "chaos", seeds, calmSrv.baseURL(), chaosExamples, chaosConcurrency)
	start := time.Now()
	calm.run(t, "run")
	calmTook := time.Since(start)
	calmRequests := calmSrv.requests.Load()
	calmSrv.close()
	t.Logf("uninterrupted run: %d requests in %s (%.0f requests/s)", calmRequests, calmTook.Round(time.Millisecond), float64(calmRequests)/calmTook.Seconds())
	if calmRequests != chaosExamples {
		t.Errorf("the uninterrupted run sent %d requests for %d examples", calmRequests, chaosExamples)
	}

	chaosSrv := startChatServer(t, addr, time.Millisecond)
	chaos := newChaosRun(t, "chaos", seeds, chaosSrv.baseURL(), chaosExamples, chaosConcurrency)
	rng := rand.New(rand.NewPCG(20260501, 7))
	// Kill i comes once the server has seen at least marks[i] requests (the
	// marks spread evenly over the run, each shifted at random within its
	// slot) and then a random delay, and only while requests are in flight.
	marks := make([]int64, chaosKills)
	slot := float64(chaosExamples) * 0.9 / chaosKills
	for i := range marks {
		marks[i] = int64(slot*float64(i) + slot*rng.Float64())
	}
	start = time.Now()
	for i := 0; i < chaosKills; i++ {
		delay := time.Duration(rng.IntN(40)) * time.Millisecond
		seen := chaos.killDuring(t, chaosSrv, marks[i], delay)
		t.Logf("kill %2d: after request %d (mark %d, +%s)", i+1, seen, marks[i], delay)
	}
	chaos.run(t, "run")
	chaosTook := time.Since(start)
	chaos.noLeftovers(t)
	chaosRequests := chaosSrv.requests.Load()
	t.Logf("killed run: %d requests in %s with %d kills", chaosRequests, chaosTook.Round(time.Millisecond), chaosKills)

	if n := calmSrv.bad.Load() + chaosSrv.bad.Load(); n > 0 {
		t.Errorf("%d malformed requests reached the servers", n)
	}
	if limit := calmRequests + chaosConcurrency*chaosKills; chaosRequests > limit {
		t.Errorf("the killed run sent %d requests; at most %d (%d + %d per kill) may be sent", chaosRequests, limit, calmRequests, chaosConcurrency)
	}
	for name, c := range map[string]*chaosRun{"uninterrupted": calm, "killed": chaos} {
		s := c.status(t)
		if s.Total.Examples != chaosExamples || s.Total.Failures != 0 || s.Total.Retrying != 0 {
			t.Errorf("%s store: %d examples, %d failures, %d retrying; want %d, 0, 0", name, s.Total.Examples, s.Total.Failures, s.Total.Retrying, chaosExamples)
		}
		for _, st := range s.Stages {
			if st.Pending+st.Running+st.Failed > 0 {
				t.Errorf("%s store: stage %s has units not done: %+v", name, st.Stage, st)
			}
		}
	}
	a, b := calm.exported(t), chaos.exported(t)
	for _, name := range []string{"data.jsonl", "data.parquet", "README.md"} {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between the uninterrupted and the killed run (%d vs %d bytes)", name, len(a[name]), len(b[name]))
		}
	}
	checkJSONL(t, a["data.jsonl"], chaosExamples)
	pf, err := parquet.OpenFile(bytes.NewReader(a["data.parquet"]), int64(len(a["data.parquet"])))
	if err != nil {
		t.Fatalf("data.parquet: %v", err)
	}
	if pf.NumRows() != chaosExamples {
		t.Errorf("data.parquet has %d rows, want %d", pf.NumRows(), chaosExamples)
	}
}

// TestInterruptSavesInFlightAnswers stops a run with Ctrl-C (SIGINT) five
// times while requests are in flight. A graceful stop waits for the calls
// already sent, which are paid for, and saves their answers: the resumed
// runs send no request twice.
func TestInterruptSavesInFlightAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs polyglot several times")
	}
	const n, stops = 2000, 5
	srv := startChatServer(t, "127.0.0.1:0", 20*time.Millisecond)
	r := newChaosRun(t, "chaos", writeSeeds(t, t.TempDir(), n), srv.baseURL(), n, chaosConcurrency)
	for i := 0; i < stops; i++ {
		cmd := r.command("run")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		before := srv.requests.Load()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for srv.requests.Load() < before+int64(n/(stops+2)) || srv.inflight.Load() == 0 {
			time.Sleep(200 * time.Microsecond)
		}
		inflight := srv.inflight.Load()
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 130 {
				t.Fatalf("stop %d: want exit code 130 after Ctrl-C, got %v\n%s", i+1, err, errb.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("stop %d: polyglot run did not stop within 30s of Ctrl-C\n%s", i+1, errb.String())
		}
		t.Logf("stop %d: Ctrl-C with %d requests in flight, after request %d", i+1, inflight, srv.requests.Load())
	}
	r.run(t, "run")
	if got := srv.requests.Load(); got != n {
		t.Errorf("the server saw %d requests for %d examples: Ctrl-C lost answers it had paid for", got, n)
	}
	if s := r.status(t); s.Total.Examples != n {
		t.Errorf("the store has %d examples, want %d", s.Total.Examples, n)
	}
	r.noLeftovers(t)
}

// killDuring starts `polyglot run`, waits until the server has seen mark
// requests in all and one of this process, then for delay, then until a
// request is in flight, and SIGKILLs it. It returns the request count at
// the kill. A run that ends before the kill fails the test.
func (c *chaosRun) killDuring(t *testing.T, srv *chatServer, mark int64, delay time.Duration) int64 {
	t.Helper()
	cmd := c.command("run")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	before := srv.requests.Load()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	wait := func(cond func() bool) {
		for !cond() {
			select {
			case err := <-exited:
				t.Fatalf("polyglot run ended (%v) before it could be killed, at request %d:\n%s", err, srv.requests.Load(), errb.String())
			case <-time.After(200 * time.Microsecond):
			}
		}
	}
	wait(func() bool { n := srv.requests.Load(); return n >= mark && n > before })
	deadline := time.Now().Add(delay)
	wait(func() bool { return !time.Now().Before(deadline) })
	wait(func() bool { return srv.inflight.Load() > 0 })
	seen := srv.requests.Load()
	if n := len(c.processes()); n < 2 {
		t.Fatalf("found %d processes of the run; want the host and its plugin (the leftover check would see nothing)", n)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("polyglot run was not killed by the signal: %v\n%s", err, errb.String())
	}
	return seen
}

// processes lists the pids of live processes that carry the run's marker.
func (c *chaosRun) processes() []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil {
			continue // gone, or not ours
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue // a zombie has exited
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if string(kv) == c.marker {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// noLeftovers fails the test if processes of the run (plugins whose host
// was killed) are still alive a few seconds after the run ended.
func (c *chaosRun) noLeftovers(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := c.processes()
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				t.Errorf("process %d (%s) outlived its run", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
				syscall.Kill(pid, syscall.SIGKILL)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkJSONL checks that the export has n distinct, well-formed chat rows.
func checkJSONL(t *testing.T, data []byte, n int) {
	t.Helper()
	ids := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Messages []struct{ Role, Content string }
			ID       string
			Teacher  string
			Language string
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("export line %d: %v", len(ids)+1, err)
		}
		if len(rec.Messages) != 2 || rec.Messages[0].Role != "user" || rec.Messages[1].Role != "assistant" ||
			rec.Messages[1].Content != answerFor(rec.Messages[0].Content) || rec.Teacher != "local" || rec.Language != "de" {
			t.Fatalf("export line %d is not the server's answer to its prompt: %s", len(ids)+1, sc.Text())
		}
		if ids[rec.ID] {
			t.Fatalf("export has example %s twice", rec.ID)
		}
		ids[rec.ID] = true
	}
	if len(ids) != n {
		t.Errorf("export has %d examples, want %d", len(ids), n)
	}
}
