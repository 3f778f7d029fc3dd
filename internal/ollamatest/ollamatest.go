// Package ollamatest gives tests a real Ollama server that serves a tiny
// random-weight model, so that code speaking to self-hosted OpenAI-compatible
// servers is tested against one that no one here wrote.
//
// The binaries come from .ci/ollama-build.sh, which builds a pinned Ollama
// from its Go module and the tinygguf program (Ollama's own GGUF writer);
// .ci/run exports their paths:
//
//	POLYGLOT_OLLAMA_BIN      the ollama executable
//	POLYGLOT_TINYGGUF_BIN    the model writer (default: tinygguf beside ollama)
//
// Without them the tests skip, or fail under POLYGLOT_REQUIRE_TOOLS=1.
package ollamatest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Model is the name under which Models imports the tiny model.
const Model = "polyglot-tiny"

// Modelfile imports the GGUF with a plain chat template (the model has no
// template of its own) and a context that holds the examples' longest
// prompts, which the byte-level tokenizer makes long. One thread: the model
// is so small that two threads spend their time waiting for each other, and
// on a busy machine (CI, two cores) a decode with two took 50 times as long
// (200 tokens: 43 s against 0.04 s).
const Modelfile = `FROM ./tiny.gguf
TEMPLATE """{{- if .System }}<|system|>{{ .System }}
{{ end }}{{- range .Messages }}<|{{ .Role }}|>{{ .Content }}
{{ end }}<|assistant|>"""
PARAMETER num_ctx 8192
PARAMETER num_thread 1
`

// Tools are the executables a test needs.
type Tools struct {
	Ollama   string
	TinyGGUF string
}

// Find returns the tools, or skips the test (fails it under
// POLYGLOT_REQUIRE_TOOLS=1) when they are not there.
func Find(t testing.TB) Tools {
	t.Helper()
	bin := os.Getenv("POLYGLOT_OLLAMA_BIN")
	gguf := os.Getenv("POLYGLOT_TINYGGUF_BIN")
	if gguf == "" && bin != "" {
		gguf = filepath.Join(filepath.Dir(bin), "tinygguf")
	}
	var missing []string
	for _, p := range []string{bin, gguf} {
		if p == "" {
			missing = append(missing, "POLYGLOT_OLLAMA_BIN is not set")
			break
		}
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, p+" is not an executable file")
		}
	}
	if len(missing) > 0 {
		msg := "no Ollama to test against (" + strings.Join(missing, "; ") + "); build it with `bash .ci/ollama-build.sh` and export the paths it prints"
		if os.Getenv("POLYGLOT_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg + " (POLYGLOT_REQUIRE_TOOLS=1)")
		}
		t.Skip(msg)
	}
	return Tools{Ollama: bin, TinyGGUF: gguf}
}

// Server is a running `ollama serve`.
type Server struct {
	// Host is host:port; URL is "http://" + Host; BaseURL is URL + "/v1",
	// the OpenAI-compatible API root.
	Host, URL, BaseURL string
	// Log is the server's combined output.
	Log string
	cmd *exec.Cmd
}

// Env is the environment an ollama process of the test runs with: its own
// home (Ollama writes a key pair there), models folder and address, no
// cloud features.
func Env(home, models, host string) []string {
	env := []string{
		"HOME=" + home,
		"OLLAMA_MODELS=" + models,
		"OLLAMA_HOST=" + host,
		"OLLAMA_NO_CLOUD=1",
		"OLLAMA_NOPRUNE=1",
		"OLLAMA_KEEP_ALIVE=10m",
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "PATH" || k == "TMPDIR" {
			env = append(env, kv)
		}
	}
	return env
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Serve starts `ollama serve` on a free port with the given models folder
// and waits until it answers. The test's cleanup stops it and its runners.
func Serve(t testing.TB, tools Tools, models string) *Server {
	t.Helper()
	dir := t.TempDir()
	host := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	s := &Server{Host: host, URL: "http://" + host, BaseURL: "http://" + host + "/v1", Log: filepath.Join(dir, "ollama.log")}
	logf, err := os.Create(s.Log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(tools.Ollama, "serve")
	s.cmd.Env = Env(dir, models, host)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// Its own process group: the model runners it starts stop with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s serve: %v", tools.Ollama, err)
	}
	logf.Close()
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("ollama serve exited before it was ready (%v):\n%s", err, s.Tail(30))
		default:
		}
		if resp, err := http.Get(s.URL + "/api/version"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ollama serve did not answer on %s within 60s:\n%s", host, s.Tail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Tail returns the last n lines of the server's log.
func (s *Server) Tail(n int) string {
	b, _ := os.ReadFile(s.Log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Models writes the tiny model, imports it as Model with `ollama create`
// into a new models folder (through a server started for that) and returns
// the folder. Any number of servers can then serve it, one at a time or
// at once.
func Models(t testing.TB, tools Tools) string {
	t.Helper()
	models := t.TempDir()
	src := t.TempDir()
	run := func(name string, env []string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = src
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
		}
	}
	run(tools.TinyGGUF, nil, "-o", filepath.Join(src, "tiny.gguf"))
	if err := os.WriteFile(filepath.Join(src, "Modelfile"), []byte(Modelfile), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Serve(t, tools, models)
	run(tools.Ollama, Env(t.TempDir(), models, s.Host), "create", Model, "-f", "Modelfile")
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	return models
}

// Stop kills the server and its runners and waits until they are gone.
func (s *Server) Stop() error {
	if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("stop ollama: %w", err)
	}
	for range 200 {
		if syscall.Kill(-s.cmd.Process.Pid, 0) == syscall.ESRCH {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("ollama (process group %d) still runs 2s after SIGKILL", s.cmd.Process.Pid)
}
