// Command openaiserver is the model server the servers tests start through
// the `command` engine: a real HTTP server speaking the OpenAI wire format
// (GET /v1/models, POST /v1/chat/completions) plus /health, with switches
// for the faults the tests need (slow start, never ready, failing start).
// Each answered chat request is appended to -log, so a test can count what
// reached a server across restarts.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "", "host:port (default: $POLYGLOT_SERVER_HOST:$POLYGLOT_SERVER_PORT)")
	model := flag.String("model", "fake-1", "the one model served")
	delay := flag.Duration("ready-after", 0, "answer /v1/models with 503 for this long after start")
	never := flag.Bool("never-ready", false, "answer /v1/models with 503 for ever")
	fail := flag.String("fail", "", "print this to stderr and exit 3 instead of serving")
	logPath := flag.String("log", "", "append one line per answered chat request")
	slow := flag.Duration("slow", 0, "time each chat answer takes")
	flag.Parse()
	fmt.Fprintf(os.Stderr, "openaiserver pid %d starting\n", os.Getpid())
	if *fail != "" {
		fmt.Fprintln(os.Stderr, *fail)
		os.Exit(3)
	}
	addr := *listen
	if addr == "" {
		addr = net.JoinHostPort(os.Getenv("POLYGLOT_SERVER_HOST"), os.Getenv("POLYGLOT_SERVER_PORT"))
	}
	start := time.Now()
	var mu sync.Mutex
	var logf *os.File
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		logf = f
	}
	ready := func() bool { return !*never && time.Since(start) >= *delay }
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			http.Error(w, `{"error":"loading model"}`, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			http.Error(w, `{"error":"loading model"}`, http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []map[string]any{{"id": *model, "object": "model", "owned_by": "test"}}})
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model    string `json:"model"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
			http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		if req.Model != *model {
			http.Error(w, fmt.Sprintf(`{"error":{"message":"model %q not found","type":"invalid_request_error","code":"model_not_found"}}`, req.Model), http.StatusNotFound)
			return
		}
		last, in := "", 0
		for _, m := range req.Messages {
			in += len(m.Content)/4 + 4
			if m.Role == "user" {
				last = m.Content
			}
		}
		if *slow > 0 {
			time.Sleep(*slow)
		}
		sum := sha256.Sum256([]byte(last))
		words := strings.Fields(last)
		if len(words) > 12 {
			words = words[:12]
		}
		answer := fmt.Sprintf("Gute Frage. Zu „%s …“: Die Antwort hängt vom Zusammenhang ab; Prüfziffer %s.", strings.Join(words, " "), hex.EncodeToString(sum[:6]))
		body, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-" + hex.EncodeToString(sum[:12]), "object": "chat.completion", "created": 1767225600, "model": req.Model,
			"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": answer}, "finish_reason": "stop"}},
			"usage":   map[string]int{"prompt_tokens": in, "completion_tokens": len(answer)/4 + 1, "total_tokens": in + len(answer)/4 + 1},
		})
		w.Header().Set("Content-Type", "application/json")
		if _, err := w.Write(body); err == nil && logf != nil {
			mu.Lock()
			fmt.Fprintf(logf, "%d %s\n", os.Getpid(), hex.EncodeToString(sum[:12]))
			mu.Unlock()
		}
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "openaiserver serving %s on %s\n", *model, ln.Addr())
	http.Serve(ln, mux)
}
