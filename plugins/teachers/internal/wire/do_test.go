package wire

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyglot-teachers/polyglot/sdk"
)

func TestDo(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Ratelimit-Remaining-Requests", "41")
		fmt.Fprintf(w, `{"got":%q,"auth":%q,"ct":%q}`, b, r.Header.Get("Authorization"), r.Header.Get("Content-Type"))
	})
	mux.HandleFunc("/limited", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"slow down"}}`)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, `{"half":`)
		w.(http.Flusher).Flush()
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		// net/http notices the client going away only once the body is read.
		_, _ = io.ReadAll(r.Body)
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	h := http.Header{"Authorization": {"Bearer k"}}

	cases := []struct {
		name    string
		path    string
		timeout time.Duration
		status  int
		body    string // substring of the body
		code    sdk.ErrorCode
	}{
		{name: "ok", path: "/ok", status: 200, body: `"got":"{\"a\":1}\n","auth":"Bearer k","ct":"application/json"`},
		{name: "status errors come back as responses", path: "/limited", status: 429, body: "slow down"},
		{name: "redirects are not followed", path: "/redirect", status: 307},
		{name: "a body cut short", path: "/cut", code: sdk.ErrMalformedResponse},
		{name: "a hanging server", path: "/hang", timeout: 200 * time.Millisecond, code: sdk.ErrTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, ce := Do(context.Background(), Request{Method: http.MethodPost, URL: srv.URL + tc.path, Header: h, JSON: map[string]int{"a": 1}, Timeout: tc.timeout})
			if tc.code != sdk.ErrUnknown {
				if ce == nil || ce.Code != tc.code {
					t.Fatalf("error %v, want code %s", ce, tc.code)
				}
				return
			}
			if ce != nil {
				t.Fatal(ce)
			}
			defer resp.Release()
			if resp.Status != tc.status || !strings.Contains(string(resp.Body), tc.body) {
				t.Errorf("status %d body %s; want %d with %s", resp.Status, resp.Body, tc.status, tc.body)
			}
			if tc.status == 429 && RetryAfter(resp.Header, time.Now()) != 3*time.Second {
				t.Errorf("Retry-After not read from the response headers: %v", resp.Header)
			}
			if tc.status == 200 && resp.Header.Get("X-Ratelimit-Remaining-Requests") != "41" {
				t.Errorf("response headers lost: %v", resp.Header)
			}
		})
	}

	t.Run("cancel returns at once", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, ce := Do(ctx, Request{Method: http.MethodPost, URL: srv.URL + "/hang", Header: h, JSON: 1, Timeout: 3 * time.Second})
		if ce == nil || ce.Code != sdk.ErrCancelled || time.Since(start) > time.Second {
			t.Errorf("cancelled call: %v after %s", ce, time.Since(start))
		}
	})
}

// TestDoUnreachable: faults that no retry will cure (nothing listens, the
// name does not resolve, TLS cannot be set up) are ErrUnreachable and say
// why, within a second; a connection the server drops is an ordinary
// server fault, retried as before.
func TestDoUnreachable(t *testing.T) {
	closed := closedPort(t)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") }))
	defer plain.Close()
	selfSigned := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") }))
	defer selfSigned.Close()
	dropper, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dropper.Close()
	go func() {
		for {
			c, err := dropper.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cases := []struct {
		name, url, cause string
		code             sdk.ErrorCode
	}{
		{"connection refused", "http://" + closed + "/v1/chat/completions", "connection refused", sdk.ErrUnreachable},
		{"host name does not resolve", "http://no-such-host.invalid/v1", "does not resolve", sdk.ErrUnreachable},
		{"https to a plain HTTP server", "https://" + strings.TrimPrefix(plain.URL, "http://") + "/v1", "does not speak TLS", sdk.ErrUnreachable},
		{"certificate that does not verify", selfSigned.URL + "/v1", "certificate does not verify", sdk.ErrUnreachable},
		{"connection dropped by the server", "http://" + dropper.Addr().String() + "/v1", "could not reach the provider", sdk.ErrServer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, ce := Do(context.Background(), Request{Method: http.MethodPost, URL: tc.url, JSON: 1, Timeout: 10 * time.Second})
			if ce == nil || ce.Code != tc.code || !strings.Contains(ce.Message, tc.cause) {
				t.Fatalf("error %v, want %s saying %q", ce, tc.code, tc.cause)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			if tc.code == sdk.ErrUnreachable {
				located := Locate(ce, http.MethodPost, tc.url)
				if !strings.Contains(located.Message, tc.url) {
					t.Errorf("Locate: %q does not name %s", located.Message, tc.url)
				}
			}
		})
	}
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestLocate(t *testing.T) {
	cases := []struct {
		code sdk.ErrorCode
		url  string
		want string
	}{
		{sdk.ErrNotFound, "http://user:pw@example.test/v1/chat/completions?key=abc", "m [POST http://example.test/v1/chat/completions]"},
		{sdk.ErrAuth, "https://api.example.test/v1/messages", "m [POST https://api.example.test/v1/messages]"},
		{sdk.ErrRateLimited, "https://api.example.test/v1/messages", "m"}, // not about the set-up
	}
	for _, tc := range cases {
		got := Locate(&sdk.CallError{Code: tc.code, Message: "m"}, http.MethodPost, tc.url).Message
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.code, got, tc.want)
		}
	}
}

// proxyChildEnv makes the test binary a child that calls Do once with the
// proxy of its environment (clients read it when the process starts).
const proxyChildEnv = "WIRE_TEST_PROXY_CHILD_URL"

func TestMain(m *testing.M) {
	if u := os.Getenv(proxyChildEnv); u != "" {
		resp, ce := Do(context.Background(), Request{Method: http.MethodGet, URL: u, Timeout: 10 * time.Second})
		if ce != nil {
			fmt.Println("error:", ce)
			os.Exit(1)
		}
		fmt.Printf("%d %s", resp.Status, resp.Body)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestProxyFromEnvironment: with HTTPS_PROXY / HTTP_PROXY set, calls go
// through the proxy (a CONNECT tunnel), and NO_PROXY exempts hosts.
func TestProxyFromEnvironment(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer target.Close()
	var tunnels atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		tunnels.Add(1)
		w.WriteHeader(http.StatusOK)
		c, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			up.Close()
			return
		}
		go func() { io.Copy(up, buf); up.Close() }()
		io.Copy(c, up)
		c.Close()
	}))
	defer proxy.Close()

	cases := []struct {
		name    string
		env     []string
		tunnels int64
	}{
		{"HTTP_PROXY", []string{"HTTP_PROXY=" + proxy.URL}, 1},
		{"NO_PROXY exempts the host", []string{"HTTP_PROXY=" + proxy.URL, "NO_PROXY=127.0.0.1"}, 0},
		{"no proxy", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tunnels.Load()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(cleanProxyEnv(), append(tc.env, proxyChildEnv+"="+target.URL+"/")...)
			out, err := cmd.CombinedOutput()
			if err != nil || string(out) != "200 hello" {
				t.Fatalf("child: %v: %s", err, out)
			}
			if got := tunnels.Load() - before; got != tc.tunnels {
				t.Errorf("%d tunnels through the proxy, want %d", got, tc.tunnels)
			}
		})
	}
}

func cleanProxyEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return env
}
