// Package servers starts, watches and stops the model servers an
// experiment declares (`server "NAME" {}` blocks): vLLM, SGLang,
// llama.cpp's llama-server, Ollama, or any command serving HTTP.
//
// A server runs as a job of core/executor (local or Slurm), so it outlives
// neither more nor less than a training job does: its folder is
// STORE/servers/NAME/KEY, its logs are that folder's logs/, and the
// executor's Submit idempotency lets a restarted polyglot re-attach to a
// server job that is still running instead of starting a second one. A
// small record beside the job (server.json) keeps the attempt, port, node
// and the GPU time held, for `status` and the report.
//
// Lifetime follows the plan: the engine calls Expect with the number of
// units that need each server, Acquire when one of them is about to run
// (the first one starts the server and waits until its readiness probe
// answers 200), and Release when it is done; the server stops after the
// last one, or at Close (end of run, Ctrl-C), unless Keep is set. At most
// Max servers run at once.
//
// Units never see the server's own address. Each server gets a reverse
// proxy on 127.0.0.1 for the life of the Manager, and Rewrite replaces the
// spec's placeholder (spec.ServerAddress) with the proxy's address. The
// proxy holds requests while the server (re)starts, so a server that dies
// and is restarted — on another port, or on another Slurm node — is
// invisible to the units beyond the requests that failed when it died,
// which the teacher clients retry (a failed request is not paid). A server
// that dies more than `restarts` times, or never becomes ready within its
// start-up timeout, fails with the engine's last log lines, and so do the
// units waiting on it.
//
// On Slurm the port is chosen before submission (the server's own, or a
// random one; a port taken on the node makes the server die and the next
// attempt draws another) and the node is read from the job (squeue's batch
// host): nothing about the server's address passes through shared files.
package servers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/core/spec"
)

// State of a server.
type State string

const (
	StateIdle     State = "idle"     // not started by this run
	StateStarting State = "starting" // submitted or restarting, not ready yet
	StateReady    State = "ready"
	StateStopped  State = "stopped"
	StateKept     State = "kept" // left running for the next run (--keep-servers)
	StateFailed   State = "failed"
)

// NodeFinder is implemented by executors whose jobs run on another machine
// (Slurm): it names the node a running job is on ("" while pending).
type NodeFinder interface {
	Node(ctx context.Context, h executor.Handle) (string, error)
}

// Options configure a Manager.
type Options struct {
	// Dir is the servers' folder (STORE/servers).
	Dir string
	// Max bounds how many servers run at once (0: no bound).
	Max int
	// Keep leaves servers running at Close; the next run re-attaches.
	Keep bool
	// Executor returns the backend of an executor kind ("local", "slurm").
	Executor func(kind string) executor.Executor
	Log      zerolog.Logger
	// LogLines is how many of the engine's last log lines an error quotes (default 20).
	LogLines int
}

// Manager runs the servers of one run.
type Manager struct {
	opts    Options
	servers map[string]*server
	names   []string
	slots   chan struct{}
	stops   sync.WaitGroup
	closed  bool
	mu      sync.Mutex
}

// New makes a manager for the given server blocks and opens their proxies.
func New(specs []*spec.Server, opts Options) (*Manager, error) {
	if opts.LogLines <= 0 {
		opts.LogLines = 20
	}
	m := &Manager{opts: opts, servers: map[string]*server{}}
	if opts.Max > 0 {
		m.slots = make(chan struct{}, opts.Max)
	}
	for _, sp := range specs {
		s := &server{m: m, spec: sp, key: Key(sp), state: StateIdle, changed: make(chan struct{}), remaining: -1}
		s.dir = filepath.Join(opts.Dir, sp.Name, s.key[:12])
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			m.Close(context.Background())
			return nil, fmt.Errorf("server %q: open its proxy: %w", sp.Name, err)
		}
		s.proxyURL = "http://" + ln.Addr().String()
		s.http = &http.Server{Handler: s, ReadHeaderTimeout: time.Minute}
		go s.http.Serve(ln)
		m.servers[sp.Name] = s
		m.names = append(m.names, sp.Name)
	}
	return m, nil
}

// Names lists the servers, in declaration order.
func (m *Manager) Names() []string { return m.names }

// Rewrite replaces every server placeholder in v's strings with the
// server's proxy address.
func (m *Manager) Rewrite(v cty.Value) cty.Value {
	if m == nil || len(m.servers) == 0 || v == cty.NilVal {
		return v
	}
	out, err := cty.Transform(v, func(_ cty.Path, x cty.Value) (cty.Value, error) {
		if !x.IsKnown() || x.IsNull() || x.Type() != cty.String || x.IsMarked() {
			return x, nil
		}
		str := x.AsString()
		if !strings.Contains(str, spec.ServerHostSuffix) {
			return x, nil
		}
		for _, s := range m.servers {
			str = strings.ReplaceAll(str, spec.ServerAddress(s.spec.Name), s.proxyURL)
		}
		return cty.StringVal(str), nil
	})
	if err != nil {
		return v
	}
	return out
}

// Uses returns the servers whose placeholder appears in v's strings.
func Uses(v cty.Value, names []string) []string {
	if v == cty.NilVal {
		return nil
	}
	found := map[string]bool{}
	_ = cty.Walk(v, func(_ cty.Path, x cty.Value) (bool, error) {
		if x.IsKnown() && !x.IsNull() && x.Type() == cty.String {
			x, _ = x.Unmark()
			str := x.AsString()
			for _, n := range names {
				if strings.Contains(str, spec.ServerAddress(n)) {
					found[n] = true
				}
			}
		}
		return true, nil
	})
	out := make([]string, 0, len(found))
	for n := range found {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Expect says how many units of this run will acquire server name; the
// server stops when the last of them releases it. Without it the server
// stops when no unit holds it.
func (m *Manager) Expect(name string, units int) {
	if s := m.servers[name]; s != nil {
		s.mu.Lock()
		s.remaining = units
		s.mu.Unlock()
	}
}

// ExpectMore adds n to the units expected to acquire name: work that
// acquires the server for a unit that will acquire it again later (a
// screening stage generating the unit's prefix) must not count as the
// unit's own release.
func (m *Manager) ExpectMore(name string, n int) {
	if s := m.servers[name]; s != nil {
		s.mu.Lock()
		s.remaining += n
		s.mu.Unlock()
	}
}

// Acquire starts server name if it is not running (or re-attaches to a job
// an earlier run left), and returns once it is ready. Every successful
// Acquire must be followed by one Release.
func (m *Manager) Acquire(ctx context.Context, name string) error {
	s := m.servers[name]
	if s == nil {
		return fmt.Errorf("no server %q", name)
	}
	s.mu.Lock()
	if m.isClosed() {
		s.mu.Unlock()
		return fmt.Errorf("server %q: the run is stopping", name)
	}
	s.refs++
	if s.state == StateIdle || s.state == StateStopped || s.state == StateKept {
		s.startLocked()
	}
	s.mu.Unlock()
	if err := s.wait(ctx); err != nil {
		s.mu.Lock()
		s.refs--
		s.mu.Unlock()
		return err
	}
	return nil
}

// Release ends one Acquire. A unit that gave up on the server (its Acquire
// failed) does not call Release; Done counts it instead.
func (m *Manager) Release(name string) {
	s := m.servers[name]
	if s == nil {
		return
	}
	s.mu.Lock()
	s.refs--
	s.mu.Unlock()
	m.Done(name)
}

// Done counts one expected unit of name as finished (also one that never
// acquired it, e.g. skipped or failed before); after the last one the
// server stops.
func (m *Manager) Done(name string) {
	s := m.servers[name]
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.remaining > 0 {
		s.remaining--
	}
	stop := s.refs <= 0 && s.remaining <= 0 && (s.state == StateStarting || s.state == StateReady)
	s.mu.Unlock()
	if stop {
		m.stops.Add(1)
		go func() {
			defer m.stops.Done()
			s.stop(context.Background(), m.opts.Keep)
		}()
	}
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Close stops every server this run started (or leaves it running with
// Keep) and closes the proxies. It waits until the servers are stopped.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	var errs []error
	for _, n := range m.names {
		s := m.servers[n]
		if err := s.stop(ctx, m.opts.Keep); err != nil {
			errs = append(errs, err)
		}
	}
	m.stops.Wait()
	for _, s := range m.servers {
		if s.http != nil {
			s.http.Close()
		}
	}
	return errors.Join(errs...)
}

// Status is what `status` shows of a server.
type Status struct {
	Name     string
	State    State
	URL      string // the server's own address, when known
	LogDir   string
	Executor string
	JobID    string
	Attempt  int
	Error    string
	// HeldHours is the wall time the server ran, summed over runs, and
	// GPUHours that times its GPUs.
	HeldHours float64
	GPUHours  float64
}

// Status reports every server of this manager.
func (m *Manager) Status() []Status {
	var out []Status
	for _, n := range m.names {
		out = append(out, m.servers[n].status())
	}
	return out
}

// record is server.json beside the server's job.
type record struct {
	Name        string          `json:"name"`
	Key         string          `json:"key"`
	Engine      string          `json:"engine"`
	Model       string          `json:"model,omitempty"`
	Executor    string          `json:"executor"`
	Attempt     int             `json:"attempt"`
	Port        int             `json:"port"`
	Node        string          `json:"node,omitempty"`
	URL         string          `json:"url,omitempty"`
	Handle      executor.Handle `json:"handle"`
	State       State           `json:"state"`
	Error       string          `json:"error,omitempty"`
	GPUs        int             `json:"gpus"`
	HeldSeconds float64         `json:"held_seconds"`
	// RunningSince is when the current job began running (not queued); the
	// time since is added to HeldSeconds when it stops.
	RunningSince time.Time `json:"running_since,omitzero"`
	Updated      time.Time `json:"updated"`
}

const recordFile = "server.json"

func loadRecord(dir string) (record, bool) {
	var r record
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil || json.Unmarshal(b, &r) != nil {
		return r, false
	}
	return r, true
}

func saveRecord(dir string, r record) error {
	r.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, recordFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, recordFile))
}

// Records reads the records of every server under dir (STORE/servers), the
// newest folder of each server first; for status and the report.
func Records(dir string) []Status {
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "*", recordFile))
	var out []Status
	for _, p := range paths {
		r, ok := loadRecord(filepath.Dir(p))
		if !ok {
			continue
		}
		out = append(out, r.status(filepath.Dir(p)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r record) status(dir string) Status {
	held := r.HeldSeconds
	if !r.RunningSince.IsZero() && (r.State == StateReady || r.State == StateStarting || r.State == StateKept) {
		held += time.Since(r.RunningSince).Seconds()
	}
	return Status{Name: r.Name, State: r.State, URL: r.URL, LogDir: executor.LogDir(dir), Executor: r.Executor, JobID: r.Handle.ID,
		Attempt: r.Attempt, Error: r.Error, HeldHours: held / 3600, GPUHours: held / 3600 * float64(r.GPUs)}
}

// freePort asks the kernel for a port that is free now on this machine.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// slurmPort draws a port for a server on a node this process cannot probe.
func slurmPort() int { return 20000 + rand.IntN(30000) }

func hostPort(host string, port int) string {
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(port))}).String()
}
