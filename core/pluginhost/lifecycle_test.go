package pluginhost

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// crashyManager installs the crashy test plugin and starts it.
func crashyManager(t *testing.T) (*Manager, *Running) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Install(context.Background(), dir, bins["crashy"], ""); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, dir)
	r, err := m.Get(context.Background(), "crashy")
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

// ask sends the crashy plugin one teacher call with text and returns the
// answer's text.
func ask(t *testing.T, r *Running, text string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rs, _, err := r.Client.Generate(ctx, sdk.TeacherOpen{Component: "crashy"}, []*sdk.Call{{ID: "x", Messages: []sdk.Message{{Role: "user", Content: text}}}})
	if err != nil {
		return "", err
	}
	if rs[0].Err != nil {
		return "", rs[0].Err
	}
	return rs[0].Text, nil
}

func spawnChild(t *testing.T, r *Running) int {
	t.Helper()
	text, err := ask(t, r, "spawn")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(text)
	if err != nil || !alive(pid) {
		t.Fatalf("the plugin's child %q is not running", text)
	}
	return pid
}

// TestPluginChildrenEndWithIt: a process a plugin started ends with the
// plugin when the host stops it, and when the plugin crashed and is
// started again.
func TestPluginChildrenEndWithIt(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		m, r := crashyManager(t)
		child := spawnChild(t, r)
		done := make(chan struct{})
		go func() { m.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("Close hung on a plugin whose child holds its output open")
		}
		waitDead(t, r.Pid(), "the plugin outlived Close")
		waitDead(t, child, "the plugin's child outlived Close")
	})
	t.Run("crash", func(t *testing.T) {
		m, r := crashyManager(t)
		child := spawnChild(t, r)
		if _, err := ask(t, r, "crash"); err == nil {
			t.Fatal("a crash must be an error")
		}
		// The child holds the plugin's stderr: the crash must still be seen.
		deadline := time.Now().Add(5 * time.Second)
		for !r.Exited() {
			if time.Now().After(deadline) {
				t.Fatal("the crashed plugin is not seen as exited while its child lives")
			}
			time.Sleep(10 * time.Millisecond)
		}
		nr, err := m.Live(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if nr == r || nr.Restarts != 1 {
			t.Fatalf("the plugin was not started again (same process %v, restarts %d)", nr == r, nr.Restarts)
		}
		waitDead(t, child, "the crashed plugin's child outlived its restart")
		if text, err := ask(t, nr, "hello"); err != nil || text != "ok" {
			t.Fatalf("the restarted plugin answered %q, %v", text, err)
		}
	})
	t.Run("restart", func(t *testing.T) {
		m, r := crashyManager(t)
		child := spawnChild(t, r)
		nr, err := m.Restart(context.Background(), r, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitDead(t, r.Pid(), "the replaced plugin outlived its restart")
		waitDead(t, child, "the replaced plugin's child outlived its restart")
		// A second caller that saw the same death gets the new process.
		again, err := m.Restart(context.Background(), r, nil)
		if err != nil || again != nr {
			t.Fatalf("a second restart of the same process started another one (%v)", err)
		}
	})
}

// TestPluginEnvironment: a plugin gets the allow-listed part of the host's
// environment, the names POLYGLOT_PLUGIN_ENV and Manager.Env add, and no
// other variable: not the host's API keys, nor spec variables set through
// the environment.
func TestPluginEnvironment(t *testing.T) {
	for k, v := range map[string]string{
		"OPENAI_API_KEY":        "sk-host-key-must-not-pass",
		"POLYGLOT_VAR_api_key":  "sk-spec-var-must-not-pass",
		"AWS_SECRET_ACCESS_KEY": "aws-must-not-pass",
		"LANG":                  "de_DE.UTF-8",
		"LC_MESSAGES":           "de_DE.UTF-8",
		"HTTPS_PROXY":           "http://proxy.example:3128",
		"no_proxy":              "localhost",
		"TMPDIR":                t.TempDir(),
		PluginEnvVar:            "CRASHY_EXTRA, CRASHY_PREFIX_*",
		"CRASHY_EXTRA":          "one",
		"CRASHY_PREFIX_A":       "two",
		"FROM_MANAGER":          "three",
	} {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	if _, err := Install(context.Background(), dir, bins["crashy"], ""); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, dir)
	m.Env = []string{"FROM_MANAGER"}
	r, err := m.Get(context.Background(), "crashy")
	if err != nil {
		t.Fatal(err)
	}
	text, err := ask(t, r, "env")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, k := range []string{"PATH", "LANG", "LC_MESSAGES", "HTTPS_PROXY", "no_proxy", "TMPDIR", "CRASHY_EXTRA", "CRASHY_PREFIX_A", "FROM_MANAGER"} {
		if env[k] == "" {
			t.Errorf("the plugin did not get %s", k)
		}
	}
	for _, k := range []string{"OPENAI_API_KEY", "POLYGLOT_VAR_api_key", "AWS_SECRET_ACCESS_KEY"} {
		if _, ok := env[k]; ok {
			t.Errorf("the plugin got %s", k)
		}
	}
	for k, v := range env {
		if strings.Contains(v, "must-not-pass") {
			t.Errorf("a secret reached the plugin in %s", k)
		}
	}
}

// TestPluginHangingAtStart: a plugin that never completes its handshake
// fails within the start timeout set on the Manager, with an error naming
// it and the flag, and is not left running.
func TestPluginHangingAtStart(t *testing.T) {
	dir := t.TempDir()
	if _, err := Install(context.Background(), dir, bins["crashy"], ""); err != nil {
		t.Fatal(err)
	}
	t.Setenv(PluginEnvVar, "CRASHY_HANG_START")
	t.Setenv("CRASHY_HANG_START", "1")
	m := newManager(t, dir)
	m.StartTimeout = time.Second
	start := time.Now()
	_, err := m.Get(context.Background(), "crashy")
	if err == nil || !strings.Contains(err.Error(), `plugin "crashy"`) || !strings.Contains(err.Error(), "--plugin-start-timeout") {
		t.Fatalf("want a start timeout naming the plugin, got %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a 1 s start timeout took %s", took)
	}
}
