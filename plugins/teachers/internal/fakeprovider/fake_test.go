package fakeprovider

import (
	"bytes"
	"net/http"
	"testing"
)

// faultSequence sends n identical requests one after another and returns
// the status codes.
func faultSequence(t *testing.T, seed int64, n int) []int {
	srv := Start(t, Options{Seed: seed, Rates: map[Fault]float64{FaultRateLimit: 0.2, FaultServer: 0.1, FaultBadRequest: 0.1}})
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	out := make([]int, n)
	for i := range out {
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		out[i] = resp.StatusCode
	}
	st := srv.Stats()
	if st.Requests != int64(n) || st.ByRoute["openai.chat"] != int64(n) {
		t.Errorf("stats %+v", st)
	}
	return out
}

func TestFaultsAreDeterministicBySeed(t *testing.T) {
	a, b, c := faultSequence(t, 1, 300), faultSequence(t, 1, 300), faultSequence(t, 2, 300)
	counts := map[int]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, request %d: %d vs %d", i, a[i], b[i])
		}
		counts[a[i]]++
	}
	same := true
	for i := range a {
		same = same && a[i] == c[i]
	}
	if same {
		t.Error("seeds 1 and 2 gave the same fault sequence")
	}
	// 300 draws: 20% 429, 10% 500, 10% 400, the rest 200; loose bounds.
	for code, want := range map[int]int{429: 60, 500: 30, 400: 30, 200: 180} {
		if got := counts[code]; got < want/2 || got > want*3/2 {
			t.Errorf("status %d: %d of 300, expected about %d", code, got, want)
		}
	}
}

func TestShapeChecks(t *testing.T) {
	srv := Start(t, Options{APIKey: "k"})
	cases := []struct {
		name, path, body string
		header           map[string]string
		want             int
	}{
		{"openai ok", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"Authorization": "Bearer k"}, 200},
		{"openai no key", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, nil, 401},
		{"openai bad role", "/v1/chat/completions", `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, map[string]string{"Authorization": "Bearer k"}, 400},
		{"anthropic seed rejected", "/v1/messages", `{"model":"m","max_tokens":5,"seed":1,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"x-api-key": "k", "anthropic-version": AnthropicVersion}, 400},
		{"anthropic no version", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"x-api-key": "k"}, 400},
		{"anthropic system role in messages", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"hi"}]}`, map[string]string{"x-api-key": "k", "anthropic-version": AnthropicVersion}, 400},
		{"gemini ok", "/v1beta/models/g:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, map[string]string{"x-goog-api-key": "k"}, 200},
		{"gemini unknown field", "/v1beta/models/g:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"temperature":1}`, map[string]string{"x-goog-api-key": "k"}, 400},
		{"cohere top_p rejected", "/v2/chat", `{"model":"c","messages":[{"role":"user","content":"hi"}],"top_p":0.9}`, map[string]string{"Authorization": "Bearer k"}, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+tc.path, bytes.NewReader([]byte(tc.body)))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
