package command

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/servers"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
)

func init() {
	register(cmd{name: "ui", synopsis: "serve a live, read-only web view of a run", run: runUI,
		usage: "ui [DIR] [flags]",
		help: "Serves a web page that follows a running or finished study: units per stage,\n" +
			"examples, failures, tokens and cost per cell, each teacher's last error and the\n" +
			"failed units, the same figures as `status --json`, refreshed every second.\n" +
			"It reads the store read-only, so it works from another terminal while `run`\n" +
			"is going. It listens on 127.0.0.1 unless --addr says otherwise; bound to\n" +
			"another address it requires a random token, printed in its URL."})
}

//go:embed ui.html
var uiPage []byte

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
	srv := &http.Server{Handler: uiHandler(exp, st, token), ReadHeaderTimeout: 10 * time.Second}
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

// uiHandler serves the page and the status it polls. It only reads.
func uiHandler(exp *spec.Experiment, st *store.Store, token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
		w.Write(uiPage)
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		out, err := statusOf(exp, st)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if err := writeJSON(w, out); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
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

// statusOf is what `status --json` prints, read now.
func statusOf(exp *spec.Experiment, st *store.Store) (statusOutput, error) {
	sum, err := st.Summary()
	if err != nil {
		return statusOutput{}, err
	}
	fails, err := readFailures(st)
	if err != nil {
		return statusOutput{}, err
	}
	if sum.Stages == nil {
		sum.Stages = []store.StageCount{}
	}
	if sum.Cells == nil {
		sum.Cells = []store.CellSummary{}
	}
	return statusOutput{jsonFormatVersion, exp.Name, exp.Store, sum, fails.Reasons, fails.TeacherErrors, fails.Units, servers.Records(engine.ServersDir(exp.Store))}, nil
}
