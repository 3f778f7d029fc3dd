package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Manager starts plugins on first use and keeps one process per plugin.
type Manager struct {
	// Dirs are the plugin folders searched, in order.
	Dirs []string
	// Builtins are the plugins compiled into the host binary; they are
	// started as SelfExe internal-plugin NAME.
	Builtins []string
	SelfExe  string
	// Constraints maps plugin name to a version constraint
	// (from required_plugins).
	Constraints map[string]string
	// ReplaceBuiltins names the built-ins that an installed plugin of the
	// same name may stand in for (required_plugins' replaces_builtin).
	// Without it such a plugin is refused: it would receive the config,
	// API keys included, that the spec wrote for the built-in.
	ReplaceBuiltins map[string]bool
	// WorkDir is the plugins' working folder (the experiment folder), so
	// relative paths in their config mean what the user meant.
	WorkDir string
	Log     zerolog.Logger
	// StartTimeout bounds a plugin's start: its handshake and its answer
	// to the first call (DefaultStartTimeout when zero).
	StartTimeout time.Duration
	// CallTimeout bounds the plugin calls that have no limit of their own:
	// opening a teacher or metric, and each batch a metric is sent
	// (DefaultCallTimeout when zero). Training and evaluation are not
	// bounded: they take as long as they take.
	CallTimeout time.Duration
	// Env names host environment variables passed to plugins on top of
	// the built-in allow-list (see pluginEnv).
	Env []string

	mu      sync.Mutex
	running map[string]*Running
	host    sdk.Host
	// starting holds the first starts of plugins under way, so that several
	// plugins start at once and a second Get of one waits for its start.
	starting map[string]*startCall
}

type startCall struct {
	done chan struct{}
	r    *Running
	err  error
}

// Default plugin timeouts; `--plugin-start-timeout` and
// `--plugin-call-timeout` change them.
const (
	DefaultStartTimeout = time.Minute
	DefaultCallTimeout  = 10 * time.Minute
)

// Running is a started plugin.
type Running struct {
	Name   string
	Path   string
	Info   *sdk.PluginInfo
	Client *sdk.Client
	// Restarts counts the processes of this plugin that died before this
	// one in the run.
	Restarts int
	raw      *plugin.Client
	pid      int
	bin      Binary
	builtin  bool

	sumOnce sync.Once
	sum     string // SHA-256 of the binary, hex; set at start unless built in
	sumErr  error
}

// Checksum is the SHA-256 (hex) of the binary this plugin runs from: the
// one its lock entry verified, or for a built-in the polyglot executable's,
// hashed on first use. It tells two builds of a plugin apart when their
// version says nothing (the response cache keys on it).
func (r *Running) Checksum() (string, error) {
	r.sumOnce.Do(func() {
		if r.sum == "" {
			r.sum, r.sumErr = builtinSum(r.Path)
		}
	})
	return r.sum, r.sumErr
}

// builtinSums remembers the polyglot executable's checksum by path, size
// and modification time: every built-in plugin runs from it, and hashing
// it (~70 MB) once per plugin process cost a fifth of a second each.
var builtinSums sync.Map // path -> fileSum

type fileSum struct {
	size  int64
	mtime time.Time
	sum   string
}

func builtinSum(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if v, ok := builtinSums.Load(path); ok {
		if fs := v.(fileSum); fs.size == fi.Size() && fs.mtime.Equal(fi.ModTime()) {
			return fs.sum, nil
		}
	}
	sum, err := FileSHA256(path)
	if err != nil {
		return "", err
	}
	builtinSums.Store(path, fileSum{fi.Size(), fi.ModTime(), sum})
	return sum, nil
}

// Exited reports whether the plugin process is gone.
func (r *Running) Exited() bool { return r.raw.Exited() || gone(r.pid) }

// stop ends the plugin and whatever it started. gracefully asks it to shut
// down first; otherwise the whole process group is SIGKILLed at once. The
// group goes first in both cases: a child that holds the plugin's stderr
// open would otherwise keep go-plugin waiting for it for ever.
func (r *Running) stop(gracefully bool) {
	if !gracefully {
		killGroup(r.pid)
		r.raw.Kill()
		return
	}
	done := make(chan struct{})
	go func() { r.raw.Kill(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	killGroup(r.pid)
	<-done
}

// StartTimeoutOrDefault is the start timeout in force.
func (m *Manager) StartTimeoutOrDefault() time.Duration {
	if m.StartTimeout > 0 {
		return m.StartTimeout
	}
	return DefaultStartTimeout
}

// CallTimeoutOrDefault is the call timeout in force.
func (m *Manager) CallTimeoutOrDefault() time.Duration {
	if m.CallTimeout > 0 {
		return m.CallTimeout
	}
	return DefaultCallTimeout
}

// SetHost registers the host callbacks on every plugin, those running and
// those started later (a restart).
func (m *Manager) SetHost(h sdk.Host) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.host = h
	for _, r := range m.running {
		r.Client.SetHost(h)
	}
}

// IsBuiltin reports whether name is compiled into the host.
func (m *Manager) IsBuiltin(name string) bool {
	for _, b := range m.Builtins {
		if b == name {
			return true
		}
	}
	return false
}

// Resolve finds the binary for a plugin name. An installed binary named
// like a built-in is refused unless the spec says it replaces the built-in
// (ReplaceBuiltins); then it wins.
func (m *Manager) Resolve(name string) (Binary, bool, error) {
	bins, err := Discover(m.Dirs...)
	if err != nil {
		return Binary{}, false, err
	}
	b, err := Select(bins, name, m.Constraints[name])
	if err == nil && m.IsBuiltin(name) && !m.ReplaceBuiltins[name] {
		return Binary{}, false, &BuiltinClashError{Name: name, Path: b.Path}
	}
	if err == nil {
		return b, false, nil
	}
	if m.IsBuiltin(name) && m.Constraints[name] == "" {
		return Binary{Name: name, Path: m.SelfExe}, true, nil
	}
	if m.IsBuiltin(name) {
		return Binary{}, false, fmt.Errorf("%v (the built-in %q has no version to check against; remove the constraint to use it)", err, name)
	}
	return Binary{}, false, fmt.Errorf("%v; install it with `polyglot plugins install --path <binary>` (searched %s; built-ins: %s)", err, strings.Join(m.Dirs, ", "), strings.Join(m.Builtins, ", "))
}

// BuiltinClashError: an installed plugin has a built-in's name and the
// spec did not say it replaces the built-in.
type BuiltinClashError struct{ Name, Path string }

func (e *BuiltinClashError) Error() string {
	return fmt.Sprintf("the installed plugin %s is named %q, like the built-in plugin, and polyglot will not start it in the built-in's place: "+
		"it would receive the configuration written for the built-in, API keys included. If you installed it to replace the built-in, say so in the spec: "+
		"required_plugins { %s = { source = \"...\", replaces_builtin = true } }; otherwise delete %s (and its line in %s)",
		e.Path, e.Name, e.Name, e.Path, LockFileName)
}

// Get starts (or returns the running) plugin called name. Gets of different
// plugins start them at the same time; Gets of one plugin share its start.
func (m *Manager) Get(ctx context.Context, name string) (*Running, error) {
	m.mu.Lock()
	if m.running == nil {
		m.running = map[string]*Running{}
	}
	for {
		if r, ok := m.running[name]; ok && !r.Exited() {
			m.mu.Unlock()
			return r, nil
		}
		sc := m.starting[name]
		if sc == nil {
			break
		}
		m.mu.Unlock()
		select {
		case <-sc.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if sc.err != nil && (ctx.Err() != nil || !errors.Is(sc.err, context.Canceled) && !errors.Is(sc.err, context.DeadlineExceeded)) {
			return nil, sc.err
		}
		m.mu.Lock() // started, or its starter gave up: look again
	}
	bin, builtin, err := m.Resolve(name)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	restarts := 0
	if old := m.running[name]; old != nil {
		old.stop(false) // its children, if it left any
		restarts = old.Restarts + 1
		m.Log.Warn().Str("plugin", name).Int("pid", old.pid).Int("restarts", restarts).Msg("plugin died; starting it again")
	}
	sc := &startCall{done: make(chan struct{})}
	if m.starting == nil {
		m.starting = map[string]*startCall{}
	}
	m.starting[name] = sc
	host := m.host
	m.mu.Unlock()

	r, err := m.start(ctx, name, bin, builtin, host)

	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.starting, name)
	sc.r, sc.err = r, err
	close(sc.done)
	if err != nil {
		return nil, err
	}
	r.Restarts = restarts
	if m.host != host && m.host != nil {
		r.Client.SetHost(m.host) // set while it started
	}
	if m.running == nil {
		m.running = map[string]*Running{}
	}
	m.running[name] = r
	return r, nil
}

// awaitStart waits, with m.mu held, until no Get is starting name.
func (m *Manager) awaitStart(name string) {
	for sc := m.starting[name]; sc != nil; sc = m.starting[name] {
		m.mu.Unlock()
		<-sc.done
		m.mu.Lock()
	}
}

// StartAll starts the named plugins at the same time (each start is mostly
// waiting: the process, its handshake, its mTLS keys) and returns the
// error of each that failed to start. Later Gets return the running ones.
func (m *Manager) StartAll(ctx context.Context, names []string) map[string]error {
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		wg.Go(func() {
			if _, err := m.Get(ctx, n); err != nil {
				mu.Lock()
				errs[n] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// Live returns the running process of r's plugin: r itself while it lives,
// else the one that replaced it, started now if none did.
func (m *Manager) Live(ctx context.Context, r *Running) (*Running, error) {
	m.mu.Lock()
	cur := m.running[r.Name]
	m.mu.Unlock()
	if cur != nil && !cur.Exited() {
		return cur, nil
	}
	return m.Get(ctx, r.Name)
}

// Restart replaces the process of r's plugin, which died or stopped
// answering (why says how), with a new one. Whatever r still runs is
// killed with its process group. Several callers may see the same death:
// the first one restarts the plugin, the others get its new process.
func (m *Manager) Restart(ctx context.Context, r *Running, why error) (*Running, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.awaitStart(r.Name)
	if cur := m.running[r.Name]; cur != nil && cur != r && !cur.Exited() {
		return cur, nil
	}
	r.stop(false)
	m.Log.Warn().Str("plugin", r.Name).Int("pid", r.pid).Int("restarts", r.Restarts+1).AnErr("reason", why).Msg("plugin died; starting it again")
	nr, err := m.start(ctx, r.Name, r.bin, r.builtin, m.host)
	if err != nil {
		delete(m.running, r.Name)
		return nil, fmt.Errorf("restarting plugin %q after it died: %w", r.Name, err)
	}
	nr.Restarts = r.Restarts + 1
	if m.running == nil {
		m.running = map[string]*Running{}
	}
	m.running[r.Name] = nr
	return nr, nil
}

// Died reports whether err, from a call to r, means that the plugin
// process is gone: it exited, or its connection closed under the call.
func (m *Manager) Died(r *Running, err error) bool {
	if err == nil {
		return false
	}
	if r != nil && r.Exited() {
		return true
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF)
}

func (m *Manager) start(ctx context.Context, name string, bin Binary, builtin bool, host sdk.Host) (*Running, error) {
	var cmd *exec.Cmd
	var secure *plugin.SecureConfig
	var sumHex string
	if builtin {
		cmd = exec.Command(bin.Path, "internal-plugin", name)
	} else {
		sum, err := Verify(bin)
		if err != nil {
			return nil, err
		}
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
		sumHex = hex.EncodeToString(sum)
		cmd = exec.Command(bin.Path)
	}
	cmd.Dir = m.WorkDir
	cmd.Env = pluginEnv(hostEnv(), m.Env)
	ownGroup(cmd)
	start := time.Now()
	timeout := m.StartTimeoutOrDefault()
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginMap(),
		Cmd:              cmd,
		SkipHostEnv:      true, // cmd.Env is all it gets
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          true,
		StartTimeout:     timeout,
		Logger:           NewLogBridge(m.Log, name),
		GRPCDialOptions:  []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(sdk.MaxMessageBytes), grpc.MaxCallSendMsgSize(sdk.MaxMessageBytes))},
	})
	kill := func() {
		if cmd.Process != nil {
			killGroup(cmd.Process.Pid)
		}
		pc.Kill()
	}
	rpc, err := pc.Client()
	if err != nil {
		kill()
		if strings.Contains(err.Error(), "timeout while waiting for plugin to start") {
			return nil, fmt.Errorf("plugin %q (%s) did not complete its handshake within %s (the start timeout; raise it with --plugin-start-timeout): %w", name, bin.Path, timeout, err)
		}
		return nil, explainStart(name, bin.Path, err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		kill()
		return nil, fmt.Errorf("plugin %q (%s) does not serve the polyglot protocol: %w", name, bin.Path, err)
	}
	c := raw.(*sdk.Client)
	ictx, cancel := context.WithTimeout(ctx, max(timeout-time.Since(start), time.Second))
	info, err := c.Info(ictx)
	cancel()
	if err != nil {
		kill()
		if ictx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return nil, fmt.Errorf("plugin %q (%s) started but did not answer within %s (the start timeout; raise it with --plugin-start-timeout)", name, bin.Path, timeout)
		}
		return nil, m.Explain(name, bin.Path, err)
	}
	if info.Protocol != sdk.ProtocolVersion {
		kill()
		return nil, fmt.Errorf("plugin %q (%s) speaks protocol version %d; this polyglot speaks %d. Install a matching plugin version", name, bin.Path, info.Protocol, sdk.ProtocolVersion)
	}
	if host != nil {
		c.SetHost(host)
	}
	m.Log.Debug().Str("plugin", name).Str("path", bin.Path).Str("version", info.Version).Dur("startup", time.Since(start)).Msg("plugin started")
	return &Running{Name: name, Path: bin.Path, Info: info, Client: c, raw: pc, pid: cmd.Process.Pid, bin: bin, builtin: builtin, sum: sumHex}, nil
}

func explainStart(name, path string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		return fmt.Errorf("plugin %q (%s) wrote to standard output before the handshake, which breaks the plugin protocol. Plugins must log to stderr only (the SDK's Logger does). Run `%s describe` to check that the binary is a polyglot plugin: %w", name, path, path, err)
	case strings.Contains(msg, "checksums did not match"):
		return fmt.Errorf("plugin %q (%s) changed while it was being started (checksum mismatch); install it again: %w", name, path, err)
	case strings.Contains(msg, "Incompatible API version") || strings.Contains(msg, "Incompatible core API version"):
		return fmt.Errorf("plugin %q (%s) was built for another protocol version: %w", name, path, err)
	}
	return fmt.Errorf("starting plugin %q (%s): %w. Run `%s describe` to check the binary", name, path, err, path)
}

// Explain turns a call error into a sentence that names the plugin: a
// crash mid-call otherwise surfaces as an opaque transport error.
func (m *Manager) Explain(name, path string, err error) error {
	if err == nil {
		return nil
	}
	m.mu.Lock()
	r := m.running[name]
	m.mu.Unlock()
	st, _ := status.FromError(err)
	exited := r != nil && r.Exited()
	if exited || st.Code() == codes.Unavailable || errors.Is(err, io.EOF) {
		if exited {
			return fmt.Errorf("plugin %q (%s) exited unexpectedly during the call (it crashed or was killed; see its log lines above): %s", name, path, st.Message())
		}
		return fmt.Errorf("plugin %q (%s) stopped answering: %s", name, path, st.Message())
	}
	if st.Code() == codes.Canceled {
		return context.Canceled
	}
	return fmt.Errorf("plugin %q: %s", name, st.Message())
}

// ExplainErr is Explain for a running plugin.
func (m *Manager) ExplainErr(r *Running, err error) error { return m.Explain(r.Name, r.Path, err) }

// Running lists the started plugins.
func (m *Manager) List() []*Running {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Running, 0, len(m.running))
	for _, r := range m.running {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops every plugin, once the starts under way have finished.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.starting {
		m.awaitStart(name)
	}
	var wg sync.WaitGroup
	for _, r := range m.running {
		wg.Add(1)
		go func() { defer wg.Done(); r.stop(true) }()
	}
	wg.Wait()
	m.running = nil
}

// DescribeBinary runs `BINARY describe` (no handshake) and parses the JSON.
func DescribeBinary(ctx context.Context, path string, args ...string) (*DescribeOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append(args, "describe")...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("running %s describe: %v: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var d DescribeOutput
	if err := json.Unmarshal(out, &d); err != nil {
		return nil, fmt.Errorf("%s describe did not print a polyglot plugin description (is it a polyglot plugin?): %w", path, err)
	}
	if d.Name == "" {
		return nil, fmt.Errorf("%s describe printed no plugin name", path)
	}
	return &d, nil
}

// DescribeOutput is the JSON a plugin prints for `describe`.
type DescribeOutput struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Protocol   int    `json:"protocol_version"`
	Components []struct {
		Kind        string          `json:"kind"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Config      json.RawMessage `json:"config"`
	} `json:"components"`
}

// Install copies a plugin binary into dir under its canonical name and
// records its checksum in the lock file.
func Install(ctx context.Context, dir, src, source string) (LockEntry, error) {
	d, err := DescribeBinary(ctx, src)
	if err != nil {
		return LockEntry{}, err
	}
	if d.Protocol != sdk.ProtocolVersion {
		return LockEntry{}, fmt.Errorf("%s speaks plugin protocol %d; this polyglot speaks %d", src, d.Protocol, sdk.ProtocolVersion)
	}
	// The name comes from the file the user points at, not from what the
	// binary says of itself: a binary called polyglot-plugin-ttr must not
	// install itself as "openai".
	name := d.Name
	if fn, _, ok := ParseFileName(filepath.Base(src)); ok {
		if fn != d.Name {
			return LockEntry{}, fmt.Errorf("%s describes itself as plugin %q, but its file name says %q; a plugin is named by its file. "+
				"Rename the file %s%s if that is the plugin you mean, or ask its author why the names differ", src, d.Name, fn, Prefix, d.Name)
		}
		name = fn
	}
	if !validName(name) {
		return LockEntry{}, fmt.Errorf("%s: %q is not a usable plugin name (letters, digits, - and _ only)", src, name)
	}
	file := Prefix + name
	if d.Version != "" {
		file += "_v" + strings.TrimPrefix(d.Version, "v")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return LockEntry{}, err
	}
	dst := dir + string(os.PathSeparator) + file
	if err := copyFile(src, dst); err != nil {
		return LockEntry{}, fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	sum, err := FileSHA256(dst)
	if err != nil {
		return LockEntry{}, err
	}
	lock, err := ReadLock(dir)
	if err != nil {
		return LockEntry{}, err
	}
	e := LockEntry{Name: name, Version: d.Version, File: file, SHA256: sum, Source: source}
	lock.Put(e)
	return e, lock.Write()
}

// validName: a plugin name becomes part of a file name; no separators,
// no dots (no "../"), nothing a shell would read twice.
func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// NewLogBridge is an hclog.Logger that forwards plugin log lines into
// zerolog, tagged with the plugin's name.
func NewLogBridge(log zerolog.Logger, plugin string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "plugin",
		Level:      hclog.Debug,
		Output:     &zerologWriter{log: log.With().Str("plugin", plugin).Logger()},
		JSONFormat: true,
	})
}

type zerologWriter struct{ log zerolog.Logger }

func (w *zerologWriter) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		w.log.Info().Msg(strings.TrimSpace(string(p)))
		return len(p), nil
	}
	lvl := zerolog.DebugLevel
	switch m["@level"] {
	case "trace":
		lvl = zerolog.TraceLevel
	case "info":
		lvl = zerolog.InfoLevel
	case "warn":
		lvl = zerolog.WarnLevel
	case "error":
		lvl = zerolog.ErrorLevel
	}
	msg, _ := m["@message"].(string)
	if msg == "plugin process exited" && m["error"] == nil {
		lvl = zerolog.DebugLevel // a normal shutdown, not news
	}
	ev := w.log.WithLevel(lvl)
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "@") || k == "timestamp":
			continue
		case k == "plugin": // go-plugin's own field is the binary's path
			k = "path"
		}
		ev = ev.Interface(k, v)
	}
	ev.Msg(msg)
	return len(p), nil
}

// Pid is the plugin process id.
func (r *Running) Pid() int { return r.pid }
