package command_test

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	_ "modernc.org/sqlite"
)

// The secrets of the secrets spec (testdata/specs/secrets). The API key
// holds characters that JSON and URL encoders rewrite (< > & / + =).
const (
	secretAPIKey = "sk-e2e-<Secret>&Key/42+Z=="
	secretHeader = "hdr-env-secret-7f3a9c"    // env() in config.headers
	secretToken  = "tok-sensitive-var-91b2e4" // sensitive variable, -var
	secretPin    = "4711"                     // sensitive and short, -var
)

// encodings returns every way the test server carries s back: as is,
// JSON-escaped by Go (\u003c), URL-encoded, and base64 (both alphabets)
// after 0, 1 and 2 bytes of other data, as a Basic header would.
func encodings(s string) map[string]string {
	j, _ := json.Marshal(s)
	out := map[string]string{
		"raw":  s,
		"json": string(j[1 : len(j)-1]),
		"url":  url.QueryEscape(s),
	}
	for pre := 0; pre < 3; pre++ {
		v := []byte(strings.Repeat("u", pre) + s)
		out["base64-"+string(rune('0'+pre))] = base64.StdEncoding.EncodeToString(v)
		out["base64url-"+string(rune('0'+pre))] = base64.RawURLEncoding.EncodeToString(v)
	}
	return out
}

// plantedSecrets lists the secret encodings that must not be found in any
// stored or logged byte.
func plantedSecrets() map[string]string {
	out := map[string]string{}
	for name, s := range map[string]string{"api key": secretAPIKey, "header": secretHeader, "token": secretToken} {
		for enc, v := range encodings(s) {
			out[name+" "+enc] = v
		}
	}
	return out
}

// echoServer is an OpenAI-compatible endpoint that leaks: it rejects
// every third request with a 401 whose body echoes the request's
// headers and the key in each encoding, and answers the rest with text
// that quotes the same.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req chatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+secretAPIKey || r.Header.Get("X-Org-Token") != secretToken ||
			r.Header.Get("X-Team-Secret") != secretHeader || r.Header.Get("X-Pin") != secretPin {
			t.Errorf("the plugin did not send the configured secrets: %v", r.Header)
		}
		leak := map[string]any{}
		for _, k := range []string{"Authorization", "X-Org-Token", "X-Team-Secret"} {
			v := strings.TrimPrefix(r.Header.Get(k), "Bearer ")
			leak[k] = encodings(v)
		}
		w.Header().Set("Content-Type", "application/json")
		// Never three 401s in a row: that many stop the teacher (a wrong
		// key), and this test needs the answers that leak as well.
		if calls.Add(1)%3 == 1 {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
				"message": "Incorrect API key provided: " + secretAPIKey + " (headers echoed)",
				"type":    "invalid_request_error", "code": "invalid_api_key", "echo": leak}})
			return
		}
		echo, _ := json.Marshal(leak)
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "created": 1767225600, "model": req.Model,
			"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": "Gute Frage. Debug: " + string(echo)}}},
			"usage": map[string]int{"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
		})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/v1"
}

// TestSecretsNeverReachStoreLogsExportsOrReport runs the secrets spec
// against the leaking server, then exports and reports, and searches every
// byte written (the store and its WAL, the response cache, stderr at debug
// level, the export, the report) for every planted encoding of every
// secret. The recorded command line keeps the flags but not the sensitive
// values, short ones included.
func TestSecretsNeverReachStoreLogsExportsOrReport(t *testing.T) {
	work := t.TempDir()
	store := filepath.Join(work, "store")
	cache := filepath.Join(work, "responses.db")
	out := filepath.Join(work, "export")
	reportDir := filepath.Join(work, "report")
	vars := []string{
		"--plugin-dir", t.TempDir(),
		"-var", "store=" + store,
		"-var", "seeds=" + writeSeeds(t, work, 40),
		"-var", "base_url=" + echoServer(t),
		"-var", "token=" + secretToken,
		"-var=pin=" + secretPin,
	}
	spec := filepath.Join(repoRoot, "testdata/specs/secrets")
	env := append(os.Environ(), "POLYGLOT_TEST_API_KEY="+secretAPIKey, "POLYGLOT_TEST_HEADER_SECRET="+secretHeader,
		"POLYGLOT_CACHE="+cache, "POLYGLOT_LOG=debug", "POLYGLOT_LOG_JSON=1")
	var logs bytes.Buffer
	run := func(args ...string) int {
		cmd := exec.Command(polyglotBin, append(append(args, vars...), spec)...)
		cmd.Dir, cmd.Env = repoRoot, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		logs.Write(stdout.Bytes())
		logs.Write(stderr.Bytes())
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	run("run")
	if code := run("export", "--format", "both", "--out", out); code != 0 {
		t.Fatalf("export failed (%d):\n%s", code, logs.String())
	}
	if code := run("report", "--out", reportDir); code != 0 {
		t.Fatalf("report failed (%d):\n%s", code, logs.String())
	}

	// The run must have stored both kinds of leak, or the test proves
	// nothing: examples quoting the secrets and 401 failures echoing them.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(store, "polyglot.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var examples, failures int
	db.QueryRow(`SELECT COUNT(*) FROM examples`).Scan(&examples)
	db.QueryRow(`SELECT COUNT(*) FROM failures`).Scan(&failures)
	if examples == 0 || failures == 0 {
		t.Fatalf("want both examples and failures in the store, got %d and %d:\n%s", examples, failures, logs.String())
	}
	var command string
	if err := db.QueryRow(`SELECT command FROM runs ORDER BY id LIMIT 1`).Scan(&command); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(command, secretPin) || strings.Contains(command, secretToken) || !strings.Contains(command, "token=(sensitive)") ||
		!strings.Contains(command, "pin=(sensitive)") || !strings.Contains(command, "examples") && !strings.Contains(command, "store=") {
		t.Errorf("recorded command line: %q; want the sensitive values replaced and the rest kept", command)
	}
	db.Close()

	files := map[string][]byte{"stdout and stderr": logs.Bytes()}
	for _, dir := range []string{store, out, reportDir} {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				files[p] = b
			}
			return nil
		})
	}
	for _, suffix := range []string{"", "-wal"} {
		if b, err := os.ReadFile(cache + suffix); err == nil {
			files[cache+suffix] = b
		}
	}
	if len(files) < 5 {
		t.Fatalf("too few files written to check: %v", sortedNames(files))
	}
	planted := plantedSecrets()
	for name, b := range files {
		for what, v := range planted {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds the %s (%q)", name, what, v)
			}
		}
	}
}

func sortedNames(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestImpostorPluginIsRefused: an installed plugin that calls itself
// "openai" used to stand in for the built-in, receive its API key, and
// the run printed Done with exit 0. Now the run refuses it and says how
// to opt in.
func TestImpostorPluginIsRefused(t *testing.T) {
	work := t.TempDir()
	bin := filepath.Join(work, "polyglot-plugin-openai")
	build := exec.Command("go", "build", "-o", bin, "./core/pluginhost/testdata/impostor")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the impostor: %v\n%s", err, out)
	}
	pd := filepath.Join(work, "plugins")
	if r := polyglot(t, repoRoot, "plugins", "install", "--plugin-dir", pd, "--path", bin); r.code != 0 {
		t.Fatalf("install: %s", r.stderr)
	}
	store := filepath.Join(work, "store")
	cmd := exec.Command(polyglotBin, "run", "--plugin-dir", pd,
		"-var", "store="+store, "-var", "seeds="+writeSeeds(t, work, 4), "-var", "base_url=http://127.0.0.1:9/v1",
		"-var", "token="+secretToken, "-var", "pin="+secretPin, filepath.Join(repoRoot, "testdata/specs/secrets"))
	cmd.Env = append(os.Environ(), "POLYGLOT_TEST_API_KEY="+secretAPIKey, "POLYGLOT_TEST_HEADER_SECRET="+secretHeader, "POLYGLOT_CACHE=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		t.Fatalf("run with an impostor plugin succeeded:\n%s%s", stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), `named "openai", like the built-in plugin`) || !strings.Contains(stderr.String(), "replaces_builtin = true") {
		t.Errorf("stderr does not explain the refusal:\n%s", stderr.String())
	}
	if strings.Contains(stdout.String(), "Done") {
		t.Errorf("run printed Done:\n%s", stdout.String())
	}
}
