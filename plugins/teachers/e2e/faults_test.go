package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/fakeprovider"
)

// TestFaultInjectionAccountsForEveryRequest runs 2,000 requests (two
// teachers x two languages x 500) against a fake that answers 10 % of
// requests 429 (with Retry-After in seconds, as an HTTP date, or only the
// provider's reset headers), 5 % 500, hangs on 2 %, sends a broken body on
// 2 % and rejects 1 % with a 401 that quotes the API key. Every request
// must end as an example or a recorded failure, the server's counters must
// match the retries the run logged, and the key must not appear in the
// debug log, the store (database and WAL, scanned while the run writes),
// `status`, the export or any error message.
func TestFaultInjectionAccountsForEveryRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 requests with injected hangs and backoff")
	}
	const perCell, want = 500, 2000
	fake := fakeprovider.Start(t, fakeprovider.Options{
		Seed:   11,
		APIKey: testKey,
		Rates: map[fakeprovider.Fault]float64{
			fakeprovider.FaultRateLimit:     0.04,
			fakeprovider.FaultRateLimitDate: 0.03,
			fakeprovider.FaultRateLimitBare: 0.03,
			fakeprovider.FaultServer:        0.05,
			fakeprovider.FaultHang:          0.02,
			fakeprovider.FaultMalformed:     0.02,
			fakeprovider.FaultAuth:          0.01,
		},
		RetryAfter: time.Second,
		ResetAfter: time.Second,
	})
	dir := filepath.Join(specDir, "faults")
	store := t.TempDir()
	v := vars(fake, store, "seeds="+writeSeeds(t, []string{"de", "es"}, 1000), "examples_per_cell="+itoa(perCell))
	cmd, out := startBackground(t, runOpts{logLevel: "debug"}, args("run", v, dir, "--only", "stage=generate")...)

	// Scan the store while the run writes: the WAL holds fresh rows.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	scans := 0
	var runErr error
wait:
	for {
		select {
		case runErr = <-done:
			break wait
		case <-time.After(300 * time.Millisecond):
			scanForKey(t, store)
			scans++
		}
	}
	ps := cmd.ProcessState
	stderr := out.String()
	if runErr != nil {
		t.Fatalf("run failed (%v) after %d store scans:\n%s", runErr, scans, tail(stderr, 4000))
	}
	t.Logf("run took %s of user CPU; %d store scans while it ran", ps.UserTime(), scans)

	sum := status(t, v, dir)
	tot := sum.Total
	if got := tot.Examples + tot.Failures + tot.Retrying; got != want {
		t.Errorf("examples %d + failures %d + retrying %d = %d, want %d: requests were dropped", tot.Examples, tot.Failures, tot.Retrying, got, want)
	}
	for _, u := range planUnits(t, v, dir) {
		if u.Stage == "generate" && u.State != "done" {
			t.Errorf("unit %s is %s", u.Label, u.State)
		}
	}

	st := fake.Stats()
	if st.Rejected != 0 {
		t.Errorf("the fake refused %d requests for their shape: %v", st.Rejected, st.Rejections[:min(5, len(st.Rejections))])
	}
	calls := st.ByRoute["openai.chat"] + st.ByRoute["anthropic.messages"]
	var faults int64
	for _, n := range st.Faults {
		faults += n
	}
	// Every answer that was not a fault became exactly one example, except
	// an answer that arrived after the client's 2 s timeout (possible on
	// an overloaded machine): that call was retried, so it shows up as a
	// call beyond examples + faults. More than a few of those is a bug.
	late := calls - int64(tot.Examples) - faults
	if late < 0 || late > calls/100 {
		t.Errorf("server saw %d calls = %d examples + %d faults + %d late answers? (%+v)", calls, tot.Examples, faults, late, st.Faults)
	} else if late > 0 {
		t.Logf("%d answers came after the client's timeout and were retried", late)
	}
	// A 401 is final at once; every other fault was retried (max_retries =
	// 8 makes running out of retries vanishingly rare).
	if int64(tot.Failures) != st.Faults[fakeprovider.FaultAuth] {
		t.Errorf("%d final failures, but the fake sent %d auth errors", tot.Failures, st.Faults[fakeprovider.FaultAuth])
	}
	retries := countLogMessages(t, stderr, "retrying call")
	if int64(retries) != calls-want {
		t.Errorf("the run logged %d retries; the server saw %d calls for %d requests (%d retries)", retries, calls, want, calls-want)
	}
	for _, f := range []fakeprovider.Fault{fakeprovider.FaultRateLimit, fakeprovider.FaultRateLimitDate, fakeprovider.FaultRateLimitBare, fakeprovider.FaultServer, fakeprovider.FaultHang, fakeprovider.FaultMalformed, fakeprovider.FaultAuth} {
		if st.Faults[f] == 0 {
			t.Errorf("no %s fault was injected in %d calls: the test did not exercise it", f, calls)
		}
	}
	t.Logf("%d calls for %d requests: %d examples, %d failures; faults %v", calls, want, tot.Examples, tot.Failures, st.Faults)

	// The key: in the debug log, the store, status, the export.
	// The 401 bodies quoted the key; they must be in the store, scrubbed,
	// or the scan below proves nothing.
	if !storeHas(store, "Incorrect API key provided") {
		t.Errorf("the auth errors' bodies are not in the store: the key check proves nothing")
	}
	statusText := polyglot(t, runOpts{}, args("status", v, dir)...)
	exportDir := exportAll(t, v, dir)
	assertNoKey(t, stderr+statusText.stdout+statusText.stderr, store, exportDir)
	if !strings.Contains(stderr, `"level":"debug"`) {
		t.Errorf("the run's log has no debug lines: the key check saw too little")
	}
}

// scanForKey fails the test when any file under dir holds the key.
func scanForKey(t *testing.T, dir string) {
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil // files come and go while the run writes
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(testKey[:len(testKey)/2+4])) {
			t.Errorf("the API key is in %s during the run", p)
		}
		return nil
	})
}

// storeHas reports whether any file under dir contains s.
func storeHas(dir, s string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			b, _ := os.ReadFile(p)
			found = found || bytes.Contains(b, []byte(s))
		}
		return nil
	})
	return found
}

// countLogMessages counts JSON log lines whose message is msg.
func countLogMessages(t *testing.T, log, msg string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Message == msg {
			n++
		}
	}
	return n
}
