package command_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestResumeCountsWhatIsDone stops a run with Ctrl-C part-way through its
// one generate unit, then checks that `plan` counts the requests already
// done (not every request as to-do) and that the resumed run's progress
// starts from them (not from 0 of the full total).
func TestResumeCountsWhatIsDone(t *testing.T) {
	const n = 600
	srv := startChatServer(t, "127.0.0.1:0", 5*time.Millisecond)
	r := newChaosRun(t, "chaos", writeSeeds(t, t.TempDir(), n), srv.baseURL(), n, 4)
	cmd := r.command("run")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for srv.requests.Load() < n/3 || srv.inflight.Load() == 0 {
		time.Sleep(200 * time.Microsecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("want exit code 130 after Ctrl-C, got %v\n%s", err, errb.String())
	}
	stored := r.status(t).Total.Examples
	if stored == 0 || stored >= n {
		t.Fatalf("%d of %d examples stored: the interrupt did not land part-way", stored, n)
	}

	var po struct {
		Stages []struct {
			Stage        string  `json:"stage"`
			Partial      int     `json:"partial"`
			Requests     int     `json:"requests"`
			RequestsDone int     `json:"requests_done"`
			EstCostUSD   float64 `json:"est_cost_usd"`
		} `json:"stages"`
		Units []struct {
			Stage        string `json:"stage"`
			State        string `json:"state"`
			RequestsDone int    `json:"requests_done"`
		} `json:"units"`
	}
	out := r.run(t, "plan", "--json")
	if err := json.Unmarshal([]byte(out), &po); err != nil {
		t.Fatal(err, out)
	}
	gen := po.Stages[0]
	if gen.Stage != "generate" || gen.Partial != 1 || gen.RequestsDone != stored || gen.Requests != n-stored {
		t.Errorf("plan after the interrupt: %+v; want 1 partial unit, %d requests done and %d left", gen, stored, n-stored)
	}
	if u := po.Units[0]; u.Stage != "generate" || u.State != "partial" || u.RequestsDone != stored {
		t.Errorf("plan's unit: %+v; want partial with %d requests done", u, stored)
	}

	// The resumed run: its generate stage starts at what is stored, of n.
	cmd = r.command("run")
	cmd.Env = append(cmd.Env, "POLYGLOT_LOG=info")
	errb.Reset()
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, errb.String())
	}
	found := false
	sc := bufio.NewScanner(strings.NewReader(errb.String()))
	for sc.Scan() {
		var ev struct {
			Message string `json:"message"`
			Stage   string `json:"stage"`
			Items   int    `json:"items"`
			Done    *int   `json:"done"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Message != "stage started" || ev.Stage != "generate" {
			continue
		}
		found = true
		if ev.Items != n || ev.Done == nil || *ev.Done != stored {
			t.Errorf("resumed progress starts at %v of %d; want %d of %d", ev.Done, ev.Items, stored, n)
		}
	}
	if !found {
		t.Errorf("no generate \"stage started\" event in the resumed run's log:\n%s", errb.String())
	}
	if got := srv.requests.Load(); got < int64(n) || got > int64(n)+4 {
		t.Errorf("the server saw %d requests for %d examples", got, n)
	}
}
