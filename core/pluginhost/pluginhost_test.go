package pluginhost

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/polyglot-teachers/polyglot/sdk"
)

var bins = map[string]string{}

// TestMain builds the real plugin binaries the tests launch: the example
// echo plugin and the deliberately broken ones in testdata.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginhost-bins")
	if err != nil {
		panic(err)
	}
	for name, pkg := range map[string]string{
		"echo":      "../../examples/plugin-teacher-echo",
		"noisy":     "./testdata/noisy",
		"crashy":    "./testdata/crashy",
		"hostproc":  "./testdata/hostproc",
		"impostor":  "./testdata/impostor",
		"barrier-a": "./testdata/barrier",
		"barrier-b": "./testdata/barrier",
		"barrier-c": "./testdata/barrier",
	} {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", out, "-ldflags", "-X main.name="+name, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			panic("building " + pkg + ": " + err.Error())
		}
		bins[name] = out
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newManager(t *testing.T, dir string) *Manager {
	m := &Manager{Dirs: []string{dir}, WorkDir: t.TempDir(), Log: zerolog.New(zerolog.NewTestWriter(t))}
	t.Cleanup(m.Close)
	return m
}

func TestInstallLaunchAndCall(t *testing.T) {
	dir := t.TempDir()
	e, err := Install(context.Background(), dir, bins["echo"], "examples/plugin-teacher-echo")
	if err != nil {
		t.Fatal(err)
	}
	if e.File != "polyglot-plugin-echo_v0.1.0" || len(e.SHA256) != 64 {
		t.Fatalf("unexpected lock entry %+v", e)
	}
	m := newManager(t, dir)
	r, err := m.Get(context.Background(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	if r.Info.Name != "echo" || r.Info.Version != "0.1.0" || len(r.Info.Components) != 1 {
		t.Fatalf("info = %+v", r.Info)
	}
	comp, _ := r.Info.Component(sdk.KindTeacher, "echo")
	cfg := comp.Schema.DecoderSpec()
	_ = cfg
	calls := []*sdk.Call{
		{ID: "a", Messages: []sdk.Message{{Role: "user", Content: "hallo"}}},
		{ID: "b", Messages: []sdk.Message{{Role: "user", Content: "welt"}}, Output: sdk.OutputFormat{JSON: true}},
	}
	rs, diags, err := r.Client.Generate(context.Background(), sdk.TeacherOpen{Component: "echo", Model: "m", Config: echoConfig("> ", true, 2)}, calls)
	if err != nil || diags.HasErrors() {
		t.Fatal(err, diags.Err())
	}
	if rs[0].Text != "> HALLOHALLO" {
		t.Errorf("text = %q", rs[0].Text)
	}
	if rs[1].Text != `{"prompt":"welt","response":"\u003e WELTWELT"}` {
		t.Errorf("json text = %q", rs[1].Text)
	}
	// Plugin-side validation comes back as a diagnostic with a path.
	d, err := r.Client.ValidateConfig(context.Background(), sdk.KindTeacher, "echo", echoConfig("", false, 99))
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasErrors() || sdk.PathString(d[0].Path) != "repeat" {
		t.Fatalf("diags = %+v", d)
	}
}

func TestTamperedBinaryRefused(t *testing.T) {
	dir := t.TempDir()
	e, err := Install(context.Background(), dir, bins["echo"], "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, e.File), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("tampered")
	f.Close()
	_, err = newManager(t, dir).Get(context.Background(), "echo")
	var ce *ChecksumError
	if err == nil || !strings.Contains(err.Error(), "lock file records") || !asChecksum(err, &ce) {
		t.Fatalf("want a checksum refusal, got %v", err)
	}
}

func asChecksum(err error, target **ChecksumError) bool {
	ce, ok := err.(*ChecksumError)
	*target = ce
	return ok
}

func TestUnlockedBinaryRefused(t *testing.T) {
	dir := t.TempDir()
	if err := copyFile(bins["echo"], filepath.Join(dir, "polyglot-plugin-echo")); err != nil {
		t.Fatal(err)
	}
	_, err := newManager(t, dir).Get(context.Background(), "echo")
	if err == nil || !strings.Contains(err.Error(), "not in the plugin folder's lock file") {
		t.Fatalf("got %v", err)
	}
}

func TestStdoutBeforeHandshake(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "polyglot-plugin-noisy")
	if err := copyFile(bins["noisy"], dst); err != nil {
		t.Fatal(err)
	}
	sum, _ := FileSHA256(dst)
	lock, _ := ReadLock(dir)
	lock.Put(LockEntry{Name: "noisy", File: "polyglot-plugin-noisy", SHA256: sum})
	if err := lock.Write(); err != nil {
		t.Fatal(err)
	}
	_, err := newManager(t, dir).Get(context.Background(), "noisy")
	if err == nil || !strings.Contains(err.Error(), "standard output before the handshake") || !strings.Contains(err.Error(), dst+" describe") {
		t.Fatalf("got %v", err)
	}
}

func TestCrashMidCallIsAClearError(t *testing.T) {
	dir := t.TempDir()
	if _, err := Install(context.Background(), dir, bins["crashy"], ""); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, dir)
	r, err := m.Get(context.Background(), "crashy")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, _, err = r.Client.Generate(ctx, sdk.TeacherOpen{Component: "crashy"}, []*sdk.Call{{ID: "x", Messages: []sdk.Message{{Role: "user", Content: "crash"}}}})
	if err == nil {
		t.Fatal("a crash must be an error")
	}
	if ctx.Err() != nil {
		t.Fatal("the call hung instead of failing")
	}
	time.Sleep(200 * time.Millisecond) // let go-plugin notice the exit
	msg := m.ExplainErr(r, err).Error()
	if !strings.Contains(msg, `plugin "crashy"`) || !strings.Contains(msg, "exited unexpectedly") {
		t.Fatalf("unclear error: %s", msg)
	}
}

// TestPluginDiesWithSIGKILLedHost SIGKILLs a host: its plugin, and the
// process the plugin started, must end too.
func TestPluginDiesWithSIGKILLedHost(t *testing.T) {
	dir := t.TempDir()
	if _, err := Install(context.Background(), dir, bins["crashy"], ""); err != nil {
		t.Fatal(err)
	}
	host := exec.Command(bins["hostproc"], dir, "crashy", "spawn")
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	host.Stderr = os.Stderr
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(out)
	var pids []int
	for _, what := range []string{"plugin", "plugin's child"} {
		line, err := rd.ReadString('\n')
		if err != nil {
			host.Process.Kill()
			t.Fatalf("host printed no %s pid: %v", what, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil || pid <= 0 {
			t.Fatalf("bad pid line %q", line)
		}
		if !alive(pid) {
			t.Fatalf("%s not running before the kill", what)
		}
		pids = append(pids, pid)
	}
	host.Process.Signal(syscall.SIGKILL)
	host.Wait()
	for i, pid := range pids {
		waitDead(t, pid, []string{"plugin", "plugin's child"}[i]+" outlived its SIGKILLed host")
	}
}

// waitDead fails the test unless pid ends within 10 s (and kills it).
func waitDead(t *testing.T, pid int, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("%s (pid %d)", msg, pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive treats zombies as dead: in a container nobody may reap them.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z' && s[i+2] != 'X'
}

func TestParseFileNameAndSelect(t *testing.T) {
	cases := []struct {
		file, name, version string
		ok                  bool
	}{
		{"polyglot-plugin-echo", "echo", "", true},
		{"polyglot-plugin-echo_v1.2.3", "echo", "1.2.3", true},
		{"polyglot-plugin-my_plugin_v0.1.0.exe", "my_plugin", "0.1.0", true},
		{"polyglot-plugin-", "", "", false},
		{"other-echo", "", "", false},
	}
	for _, c := range cases {
		n, v, ok := ParseFileName(c.file)
		gotV := ""
		if v != nil {
			gotV = v.String()
		}
		if n != c.name || gotV != c.version || ok != c.ok {
			t.Errorf("%s: got %q %q %v", c.file, n, gotV, ok)
		}
	}
	dir := t.TempDir()
	for _, f := range []string{"polyglot-plugin-a_v1.0.0", "polyglot-plugin-a_v1.5.0", "polyglot-plugin-a_v2.0.0"} {
		os.WriteFile(filepath.Join(dir, f), []byte("#!/bin/sh\n"), 0o755)
	}
	found, err := Discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ constraint, want string }{{"", "2.0.0"}, {"< 2.0", "1.5.0"}, {"~> 1.0.0", "1.0.0"}} {
		b, err := Select(found, "a", c.constraint)
		if err != nil || b.VersionString() != c.want {
			t.Errorf("constraint %q: got %v %v", c.constraint, b.VersionString(), err)
		}
	}
	if _, err := Select(found, "a", ">= 3"); err == nil || !strings.Contains(err.Error(), "none of which satisfies") {
		t.Errorf("want unsatisfiable error, got %v", err)
	}
}
