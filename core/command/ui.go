package command

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/core/live"
	"github.com/polyglot-teachers/polyglot/core/report"
	"github.com/polyglot-teachers/polyglot/core/secret"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
)

func init() {
	register(cmd{name: "ui", synopsis: "serve a live, read-only web view of a run", run: runUI,
		usage: "ui [DIR] [flags]",
		help: "Serves a web page that follows a running or finished study, refreshed every\n" +
			"second: units per stage and per cell; requests, tokens and dollars per teacher\n" +
			"against the plan and the budgets; GPU-hours of jobs and model servers; each\n" +
			"teacher's rate, failures and last error; metric values as they land; a\n" +
			"provisional ranking with its intervals; and the report's example browser. Its\n" +
			"figures are those of `status --json`. It reads the store read-only, so it works\n" +
			"from another terminal while `run` is going, and answers only GET. It listens on\n" +
			"127.0.0.1 unless --addr says otherwise; bound to another address it requires a\n" +
			"random token, printed in its URL."})
}

//go:embed ui.html
var uiTemplate string

// uiPage is the page with the report's example browser script inlined
// (the page stays one request, and the CSP allows inline scripts only).
var uiPage = []byte(strings.Replace(uiTemplate, "/*EXAMPLES_JS*/", report.ExamplesJS, 1))

func runUI(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("ui")
	sf := addSpecFlags(fs)
	addr := fs.String("addr", "127.0.0.1:7878", "address to listen on (host:port; port 0 picks a free one)")
	dir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	exp, st, err := openStoreOf(env, sf, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	view := live.New(st)
	// The plan (budgets, cells, the ranking) needs the plugins bound, which
	// takes a while: the page shows the status meanwhile. The plugins are
	// stopped once bound; scoring calls none.
	go func() {
		p, mgr, err := prepare(ctx, env, sf, dir)
		if err != nil {
			if errors.As(err, new(exitError)) {
				err = errors.New("the spec has errors (printed where `polyglot ui` runs)")
			}
			view.SetPrepared(nil, err)
			return
		}
		mgr.Close()
		view.SetPrepared(p, nil)
	}()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("ui: %w (choose another with --addr)", err)
	}
	token := ""
	if host, _, _ := net.SplitHostPort(*addr); !isLoopback(host) {
		b := make([]byte, 16)
		rand.Read(b)
		token = hex.EncodeToString(b)
	}
	srv := &http.Server{Handler: uiHandler(exp, st, view, token), ReadHeaderTimeout: 10 * time.Second}
	u := url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/"}
	if token != "" {
		u.RawQuery = "token=" + token
	}
	fmt.Fprintf(env.Stdout, "Serving the live view of %q at %s (read-only; Ctrl-C stops)\n", exp.Name, u.String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// isLoopback: "localhost", 127.0.0.0/8 and ::1 need no token; anything else
// (an empty host or 0.0.0.0 listens everywhere) does.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// uiHandler serves the page and the JSON it polls. It only reads: every
// route is GET (the mux answers anything else with 405), and every body
// passes secret.RedactBytes on its way out.
func uiHandler(exp *spec.Experiment, st *store.Store, view *live.View, token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
		w.Write(secret.RedactBytes(uiPage))
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		out, err := statusOf(exp, st)
		uiJSON(w, out, err)
	})
	mux.HandleFunc("GET /live.json", func(w http.ResponseWriter, r *http.Request) {
		out, err := statusOf(exp, st)
		if err != nil {
			uiJSON(w, nil, err)
			return
		}
		snap, err := view.Snapshot(out.Summary)
		uiJSON(w, struct {
			Status statusOutput   `json:"status"`
			Live   *live.Snapshot `json:"live"`
		}{out, snap}, err)
	})
	mux.HandleFunc("GET /examples.json", func(w http.ResponseWriter, r *http.Request) {
		q, err := examplesQuery(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		page, err := view.Examples(q)
		if errors.Is(err, live.ErrNoPlan) {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		uiJSON(w, page, err)
	})
	if token == "" {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("token")), []byte(token)) != 1 {
			http.Error(w, "this view needs the token printed with its URL", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// uiJSON writes v, redacted, or the error.
func uiJSON(w http.ResponseWriter, v any, err error) {
	var b bytes.Buffer
	if err == nil {
		// Compact: the page parses it every second; status --json indents.
		err = json.NewEncoder(&b).Encode(v)
	}
	if err != nil {
		http.Error(w, secret.Redact(err.Error()), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(secret.RedactBytes(b.Bytes()))
}

// examplesQuery reads the example browser's query string: teacher,
// language, strategy and metric filter when present (an empty value is a
// name: the strategy of unsplit data); order, q (search), from, count,
// shown; cell, a JSON object naming one cell, pages through its examples.
func examplesQuery(v url.Values) (live.ExampleQuery, error) {
	q := live.ExampleQuery{Order: v.Get("order"), Search: v.Get("q")}
	for _, f := range []struct {
		name string
		to   **string
	}{{"teacher", &q.Teacher}, {"language", &q.Language}, {"strategy", &q.Strategy}, {"metric", &q.Metric}} {
		if v.Has(f.name) {
			s := v.Get(f.name)
			*f.to = &s
		}
	}
	for _, f := range []struct {
		name string
		to   *int
	}{{"from", &q.From}, {"count", &q.Count}, {"shown", &q.Shown}} {
		if s := v.Get(f.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return q, fmt.Errorf("%s=%q: want a whole number >= 0", f.name, s)
			}
			*f.to = n
		}
	}
	switch q.Order {
	case "", "best", "worst", "asc", "desc":
	default:
		return q, fmt.Errorf("order=%q: want best, worst, asc or desc", q.Order)
	}
	if c := v.Get("cell"); c != "" {
		q.Cell = &live.ExampleCell{}
		if err := json.Unmarshal([]byte(c), q.Cell); err != nil {
			return q, fmt.Errorf("cell=%q: want a JSON object with metric, teacher, language and strategy", c)
		}
	}
	return q, nil
}
