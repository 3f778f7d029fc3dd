package command_test

import (
	"bufio"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestUINeverShowsSecretsAndOnlyReads runs the secrets spec against the
// leaking server, then plants every encoding of every secret in the store
// behind the redacting driver's back (an example's response, a failure's
// raw answer, a failed unit's error, a teacher's last error), as a store
// written by an older polyglot or by hand might hold them. `polyglot ui`,
// which knows the secrets from the spec (env() and sensitive variables),
// must serve none of them on any route, yet serve the planted rows
// (redacted); and it must refuse every method but GET and leave the store's
// files as they were.
func TestUINeverShowsSecretsAndOnlyReads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs polyglot")
	}
	work := t.TempDir()
	storeDir := filepath.Join(work, "store")
	vars := []string{
		"--plugin-dir", t.TempDir(),
		"-var", "store=" + storeDir,
		"-var", "seeds=" + writeSeeds(t, work, 40),
		"-var", "base_url=" + echoServer(t),
		"-var", "token=" + secretToken,
		"-var=pin=" + secretPin,
	}
	spec := filepath.Join(repoRoot, "testdata/specs/secrets")
	env := append(os.Environ(), "POLYGLOT_TEST_API_KEY="+secretAPIKey, "POLYGLOT_TEST_HEADER_SECRET="+secretHeader,
		"POLYGLOT_CACHE=off", "POLYGLOT_LOG=warn")
	cmd := func(args ...string) *exec.Cmd {
		c := exec.Command(polyglotBin, append(append(args, vars...), spec)...)
		c.Dir, c.Env = repoRoot, env
		return c
	}
	if out, err := cmd("run").CombinedOutput(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run: %v\n%s", err, out)
		}
	}

	var planted []string
	for _, v := range plantedSecrets() {
		planted = append(planted, v)
	}
	leak := "PLANTED " + strings.Join(planted, " | ")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(storeDir, "polyglot.db"))
	if err != nil {
		t.Fatal(err)
	}
	te, _ := json.Marshal(map[string]any{"teacher": "local", "code": "auth", "message": leak, "at": time.Now().UTC(), "stopped": false})
	detail, _ := json.Marshal(map[string]any{"error": leak})
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE examples SET response = ? WHERE rowid IN (SELECT rowid FROM examples ORDER BY rowid LIMIT 40)`, []any{leak}},
		{`UPDATE failures SET raw = ?`, []any{leak}},
		{`UPDATE units SET state = 'failed', detail = ? WHERE key = (SELECT key FROM units WHERE stage = 'score' LIMIT 1)`, []any{string(detail)}},
		{`INSERT OR REPLACE INTO kv (ns, key, value, updated) VALUES ('teacher_error', 'local', ?, 0)`, []any{string(te)}},
	} {
		res, err := db.Exec(q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			t.Fatalf("%s changed nothing: the test would prove nothing", q.sql)
		}
	}
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	files := func() string {
		h := sha256.New()
		for _, f := range []string{"polyglot.db", "polyglot.db-wal"} {
			b, _ := os.ReadFile(filepath.Join(storeDir, f))
			h.Write(b)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	before := files()

	ui := cmd("ui", "--addr", "127.0.0.1:0")
	stdout, err := ui.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ui.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ui.Process.Signal(os.Interrupt); ui.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	base := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/`).FindString(line)
	get := func(path string) string {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	// The example browser needs the plan, which the view loads after it
	// starts listening.
	for deadline := time.Now().Add(time.Minute); !strings.Contains(get("live.json"), `"plan":"ready"`); {
		if time.Now().After(deadline) {
			t.Fatal("the view never loaded the plan")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var page struct {
		Cells []struct {
			Metric, Teacher, Language, Strategy string
			N                                   int
		}
	}
	json.Unmarshal([]byte(get("examples.json?q=planted&count=100&shown=20")), &page)
	if len(page.Cells) == 0 {
		t.Fatal("the example browser does not find the planted examples: the test would prove nothing")
	}
	c, _ := json.Marshal(map[string]string{"metric": page.Cells[0].Metric, "teacher": page.Cells[0].Teacher, "language": page.Cells[0].Language, "strategy": page.Cells[0].Strategy})
	bodies := map[string]string{}
	for _, path := range []string{"", "status.json", "live.json", "examples.json", "examples.json?q=planted&count=100&shown=20",
		"examples.json?order=worst&cell=" + url.QueryEscape(string(c)) + "&from=0&count=100", "examples.json?q=" + url.QueryEscape(secretAPIKey)} {
		bodies[path] = get(path)
	}
	for path, body := range bodies {
		for name, v := range plantedSecrets() {
			if strings.Contains(body, v) {
				t.Errorf("GET /%s shows the %s", path, name)
			}
		}
	}
	for _, path := range []string{"live.json", "status.json", "examples.json?q=planted&count=100&shown=20"} {
		if !strings.Contains(bodies[path], "PLANTED") || !strings.Contains(bodies[path], "[REDACTED]") {
			t.Errorf("GET /%s does not show the planted rows redacted: the test would prove nothing", path)
		}
	}

	// Read-only: every route refuses every method that could change
	// something, and the store's files are untouched.
	for _, path := range []string{"", "status.json", "live.json", "examples.json"} {
		for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			req, _ := http.NewRequest(method, base+path, strings.NewReader(`{"state":"done"}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s /%s: %d, want 405", method, path, resp.StatusCode)
			}
		}
	}
	ui.Process.Signal(os.Interrupt)
	ui.Wait()
	if files() != before {
		t.Error("the live view changed the store's files")
	}
}
