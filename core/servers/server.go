package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/core/spec"
)

// server is one managed server: its state, its supervisor goroutine and
// its proxy (ServeHTTP).
type server struct {
	m        *Manager
	spec     *spec.Server
	key      string
	dir      string
	proxyURL string
	http     *http.Server

	mu        sync.Mutex
	state     State
	err       error
	changed   chan struct{} // closed and replaced at every state change
	refs      int
	remaining int // units still expected; -1 unknown
	backend   *url.URL
	rec       record
	cancel    context.CancelFunc // stops the supervisor
	done      chan struct{}      // closed when the supervisor returns
	handle    executor.Handle
	hasJob    bool
}

func (s *server) setLocked(st State, err error) {
	s.state, s.err = st, err
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *server) set(st State, err error) {
	s.mu.Lock()
	s.setLocked(st, err)
	s.mu.Unlock()
}

// wait blocks until the server is ready or has failed for good.
func (s *server) wait(ctx context.Context) error {
	for {
		s.mu.Lock()
		st, err, ch := s.state, s.err, s.changed
		s.mu.Unlock()
		switch st {
		case StateReady:
			return nil
		case StateFailed:
			return err
		case StateIdle, StateStopped, StateKept:
			return fmt.Errorf("server %q is not running (no unit of this run holds it)", s.spec.Name)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *server) startLocked() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	s.setLocked(StateStarting, nil)
	go func() {
		defer close(s.done)
		s.supervise(ctx)
	}()
}

func (s *server) exec() executor.Executor { return s.m.opts.Executor(s.spec.Executor.Kind) }

// supervise starts the server and starts it again when it dies, until ctx
// ends (stop) or it has died more often than it may.
func (s *server) supervise(ctx context.Context) {
	if s.m.slots != nil {
		select {
		case s.m.slots <- struct{}{}:
			defer func() { <-s.m.slots }()
		case <-ctx.Done():
			return
		}
	}
	ex := s.exec()
	if ex == nil {
		s.set(StateFailed, fmt.Errorf("server %q: unknown executor %q", s.spec.Name, s.spec.Executor.Kind))
		return
	}
	rec, ok := loadRecord(s.dir)
	attempt, port := 0, 0
	if ok && rec.Key == s.key {
		attempt, port = rec.Attempt, rec.Port
		if rec.State == StateStopped || rec.State == StateFailed {
			// That job was stopped or has failed: a new attempt, never the old outcome.
			attempt++
			port = 0
		}
		rec.State = ""
	} else {
		rec = record{Name: s.spec.Name, Key: s.key, Engine: s.spec.Engine, Model: s.spec.Model, Executor: s.spec.Executor.Kind}
	}
	rec.GPUs = GPUs(s.spec)
	deaths := 0
	var lastDeath string
	for {
		if port == 0 || s.spec.Port != 0 {
			port = s.spec.Port
		}
		inst, reattached, err := s.launch(ctx, ex, &rec, attempt, port)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			s.mu.Lock()
			s.backend = inst.backend
			s.setLocked(StateReady, nil)
			s.mu.Unlock()
			s.m.opts.Log.Info().Str("server", s.spec.Name).Str("url", inst.backend.String()).Int("attempt", attempt).Bool("reattached", reattached).Msg("server ready")
			select {
			case <-ctx.Done():
				return
			case r := <-inst.dead:
				err = fmt.Errorf("server %q died: %v%s", s.spec.Name, r, s.lastLines())
			}
		} else if reattached && errors.Is(err, errEnded) {
			// The job an earlier run left has ended since: start a fresh one,
			// which is not a restart of this run's server.
			attempt, port = attempt+1, 0
			continue
		}
		s.closeHeld(&rec)
		deaths++
		lastDeath = err.Error()
		if deaths > s.spec.Restarts || errors.Is(err, errNeverReady) {
			if ex != nil && s.hasJob {
				cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_ = ex.Cancel(cctx, s.handle)
				cancel()
			}
			if deaths > 1 {
				err = fmt.Errorf("%w (it died %d times; restarts = %d)", err, deaths, s.spec.Restarts)
			}
			rec.State, rec.Error = StateFailed, err.Error()
			_ = saveRecord(s.dir, rec)
			s.m.opts.Log.Error().Str("server", s.spec.Name).Err(err).Msg("server failed")
			s.set(StateFailed, err)
			return
		}
		s.m.opts.Log.Warn().Str("server", s.spec.Name).Int("restart", deaths).Int("of", s.spec.Restarts).Str("why", firstLine(lastDeath)).Msg("server died; starting it again")
		s.set(StateStarting, nil)
		attempt++
		if s.spec.Executor.Kind != "local" {
			port = 0 // another node may get the job: draw again
		}
	}
}

type instance struct {
	backend *url.URL
	dead    chan string // receives why the job ended
}

var (
	errEnded      = errors.New("server job ended")
	errNeverReady = errors.New("server never became ready")
)

// launch submits (or re-attaches to) attempt of the server and waits until
// it is ready.
func (s *server) launch(ctx context.Context, ex executor.Executor, rec *record, attempt, port int) (*instance, bool, error) {
	name := s.spec.Name
	local := s.spec.Executor.Kind == "local"
	reattached := false
	if st, err := executor.LoadState(s.dir); err == nil && st.Handle.Key == s.key && st.Handle.Attempt == attempt && !st.Intent() {
		reattached = true
	}
	if port == 0 {
		var err error
		if local {
			if port, err = freePort(); err != nil {
				return nil, false, fmt.Errorf("server %q: choose a port: %w", name, err)
			}
		} else {
			port = slurmPort()
		}
	}
	bind := "127.0.0.1"
	if !local {
		bind = "0.0.0.0"
	}
	l, err := Render(s.spec, bind, port)
	if err != nil {
		return nil, false, err
	}
	job := executor.Job{Key: s.key, Attempt: attempt, Name: "polyglot-server-" + name, Argv: l.Argv, Env: l.Env, WorkDir: s.dir, Resources: Resources(s.spec)}
	h, err := ex.Submit(ctx, job)
	if err != nil {
		return nil, false, fmt.Errorf("server %q: submit: %w", name, err)
	}
	s.mu.Lock()
	s.handle, s.hasJob = h, true
	s.mu.Unlock()
	rec.Attempt, rec.Port, rec.Handle, rec.State, rec.Error, rec.URL, rec.Node = attempt, port, h, StateStarting, "", "", ""
	if err := saveRecord(s.dir, *rec); err != nil {
		return nil, reattached, err
	}

	dead := make(chan string, 1)
	wctx, wcancel := context.WithCancel(context.Background())
	go func() {
		defer wcancel()
		res, err := ex.Wait(wctx, h, nil)
		if wctx.Err() != nil && err != nil && errors.Is(err, context.Canceled) {
			return
		}
		why := "it exited"
		var je *executor.JobError
		switch {
		case errors.As(err, &je):
			why = je.Error()
		case err != nil:
			why = err.Error()
		case res.State == executor.StateSucceeded:
			why = "it exited with status 0"
		}
		dead <- why
	}()
	go func() { <-ctx.Done(); wcancel() }()

	// Where does it run? Locally here; on Slurm, ask the job once it runs.
	host := "127.0.0.1"
	if !local {
		nf, ok := ex.(NodeFinder)
		if !ok {
			return nil, reattached, fmt.Errorf("server %q: executor %q cannot say which node runs the job", name, s.spec.Executor.Kind)
		}
		host = ""
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for host == "" {
			n, err := nf.Node(ctx, h)
			if err == nil && n != "" {
				host = n
				break
			}
			select {
			case why := <-dead:
				return nil, reattached, fmt.Errorf("%w before it ran: %s%s", errEnded, why, s.lastLines())
			case <-ctx.Done():
				return nil, reattached, ctx.Err()
			case <-tick.C:
			}
		}
	}
	backend, _ := url.Parse(hostPort(host, port))
	rec.Node, rec.URL, rec.RunningSince = host, backend.String(), time.Now().UTC()
	if reattached {
		if prev, ok := loadRecord(s.dir); ok && !prev.RunningSince.IsZero() {
			rec.RunningSince = prev.RunningSince
		}
	}
	_ = saveRecord(s.dir, *rec)

	probe := backend.String() + s.spec.Ready.Path
	deadline := time.NewTimer(s.spec.Ready.Timeout)
	defer deadline.Stop()
	interval := s.spec.Ready.Interval
	client := &http.Client{Timeout: max(interval, 2*time.Second)}
	for {
		if ok, _ := probeOnce(ctx, client, probe); ok {
			rec.State = StateReady
			_ = saveRecord(s.dir, *rec)
			return &instance{backend: backend, dead: dead}, reattached, nil
		}
		select {
		case why := <-dead:
			return nil, reattached, fmt.Errorf("%w before it was ready: %s%s", errEnded, why, s.lastLines())
		case <-ctx.Done():
			return nil, reattached, ctx.Err()
		case <-deadline.C:
			return nil, reattached, fmt.Errorf("server %q: %w: GET %s did not answer 200 within %s (ready.timeout)%s", name, errNeverReady, probe, s.spec.Ready.Timeout, s.lastLines())
		case <-time.After(interval):
		}
	}
}

func probeOnce(ctx context.Context, c *http.Client, u string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// closeHeld adds the time since the job began running to the held total.
func (s *server) closeHeld(rec *record) {
	if !rec.RunningSince.IsZero() {
		rec.HeldSeconds += time.Since(rec.RunningSince).Seconds()
		rec.RunningSince = time.Time{}
	}
}

// stop ends the supervisor and, unless keep, the server's job.
func (s *server) stop(ctx context.Context, keep bool) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	h, hasJob := s.handle, s.hasJob
	st := s.state
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	rec, _ := loadRecord(s.dir)
	final := StateStopped
	var err error
	switch {
	case st == StateFailed:
		final = StateFailed
	case keep && hasJob:
		final = StateKept
	case hasJob:
		if cerr := s.exec().Cancel(ctx, h); cerr != nil {
			err = fmt.Errorf("server %q: stop %s: %w", s.spec.Name, h, cerr)
		}
	}
	if final != StateKept {
		s.closeHeld(&rec)
	}
	if rec.Key != "" {
		if final != StateFailed {
			rec.State = final
		}
		_ = saveRecord(s.dir, rec)
	}
	s.mu.Lock()
	if s.state != StateFailed {
		s.setLocked(final, nil)
	}
	s.hasJob = false
	s.mu.Unlock()
	if final != StateFailed {
		s.m.opts.Log.Info().Str("server", s.spec.Name).Str("state", string(final)).Msg("server released")
	}
	return err
}

func (s *server) status() Status {
	rec, ok := loadRecord(s.dir)
	st := Status{Name: s.spec.Name, State: StateIdle, LogDir: executor.LogDir(s.dir), Executor: s.spec.Executor.Kind}
	if ok {
		st = rec.status(s.dir)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != StateIdle {
		st.State = s.state
	}
	if s.err != nil {
		st.Error = s.err.Error()
	}
	return st
}

// lastLines quotes the end of the server's logs for an error message.
func (s *server) lastLines() string {
	var b strings.Builder
	for _, stream := range []string{"stderr", "stdout"} {
		p := executor.LogPath(s.dir, stream, -1)
		lines := tail(p, s.m.opts.LogLines)
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n  last lines of %s:", p)
		for _, l := range lines {
			b.WriteString("\n    " + l)
		}
	}
	if b.Len() == 0 {
		return fmt.Sprintf(" (its logs in %s are empty)", executor.LogDir(s.dir))
	}
	return b.String()
}

// tail returns the last n non-empty lines of a file (reading at most 64 KiB).
func tail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const chunk = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > chunk {
		f.Seek(st.Size()-chunk, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	var out []string
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := strings.TrimRight(string(l), "\r "); t != "" {
			out = append(out, t)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// ServeHTTP is the server's proxy: it holds a request until the server is
// ready and forwards it to wherever the server runs now.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.wait(r.Context()); err != nil {
		http.Error(w, "polyglot: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	target := s.backend
	s.mu.Unlock()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// The server went away mid-request: a 502 the client retries;
			// the next attempt waits in wait() until it is back.
			http.Error(w, fmt.Sprintf("polyglot: server %q at %s: %v", s.spec.Name, target, err), http.StatusBadGateway)
		},
	}
	rp.ServeHTTP(w, r)
}
