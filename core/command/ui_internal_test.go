package command

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestUIToken: bound beyond loopback, the view answers only with its token.
func TestUIToken(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{{"127.0.0.1", true}, {"localhost", true}, {"::1", true}, {"127.0.0.2", true}, {"0.0.0.0", false}, {"", false}, {"192.168.1.5", false}, {"example.org", false}} {
		if got := isLoopback(tc.host); got != tc.want {
			t.Errorf("isLoopback(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
	h := uiHandler(nil, nil, nil, "s3cr3t")
	for _, tc := range []struct {
		path string
		code int
	}{{"/", http.StatusForbidden}, {"/?token=wrong", http.StatusForbidden}, {"/status.json", http.StatusForbidden}, {"/?token=s3cr3t", http.StatusOK}, {"/nothing?token=s3cr3t", http.StatusNotFound}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.code {
			t.Errorf("GET %s: %d, want %d", tc.path, rec.Code, tc.code)
		}
	}
	// Read-only: nothing but GET is served.
	rec := httptest.NewRecorder()
	uiHandler(nil, nil, nil, "").ServeHTTP(rec, httptest.NewRequest("POST", "/status.json", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /status.json: %d, want 405", rec.Code)
	}
}
