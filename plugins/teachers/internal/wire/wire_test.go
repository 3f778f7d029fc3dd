package wire

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"http date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"http date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"retry-after-ms wins", map[string]string{"Retry-After-Ms": "250", "Retry-After": "9"}, 250 * time.Millisecond},
		{"retry-after beats resets", map[string]string{"Retry-After": "2", "X-Ratelimit-Reset-Requests": "6m0s"}, 2 * time.Second},
		{"openai exhausted requests", map[string]string{"X-Ratelimit-Reset-Requests": "6m0s", "X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Tokens": "20ms", "X-Ratelimit-Remaining-Tokens": "100"}, 6 * time.Minute},
		{"openai exhausted tokens", map[string]string{"X-Ratelimit-Reset-Requests": "6m0s", "X-Ratelimit-Remaining-Requests": "10", "X-Ratelimit-Reset-Tokens": "20ms", "X-Ratelimit-Remaining-Tokens": "0"}, 20 * time.Millisecond},
		{"openai unknown which: longest", map[string]string{"X-Ratelimit-Reset-Requests": "1s", "X-Ratelimit-Reset-Tokens": "1m30.5s"}, 90*time.Second + 500*time.Millisecond},
		{"openai bare seconds", map[string]string{"X-Ratelimit-Reset-Tokens": "12"}, 12 * time.Second},
		{"openai garbage", map[string]string{"X-Ratelimit-Reset-Tokens": "soon"}, 0},
		{"anthropic", map[string]string{"Anthropic-Ratelimit-Requests-Reset": now.Add(40 * time.Second).Format(time.RFC3339), "Anthropic-Ratelimit-Requests-Remaining": "0", "Anthropic-Ratelimit-Tokens-Reset": now.Add(5 * time.Second).Format(time.RFC3339), "Anthropic-Ratelimit-Tokens-Remaining": "900"}, 40 * time.Second},
		// Absurd values are clamped, never negative: the host turns a wait
		// beyond its cap into an error.
		{"a day", map[string]string{"Retry-After": "86400"}, 24 * time.Hour},
		{"overflowing seconds", map[string]string{"Retry-After": "1e300"}, MaxRetryAfter},
		{"infinite seconds", map[string]string{"Retry-After": "+Inf"}, MaxRetryAfter},
		{"NaN", map[string]string{"Retry-After": "NaN"}, 0},
		{"negative", map[string]string{"Retry-After": "-5"}, 0},
		{"overflowing ms", map[string]string{"Retry-After-Ms": "1e300"}, MaxRetryAfter},
		{"http date in 10 years", map[string]string{"Retry-After": now.AddDate(10, 0, 0).Format(http.TimeFormat)}, MaxRetryAfter},
		{"openai reset in hours", map[string]string{"X-Ratelimit-Reset-Requests": "30h", "X-Ratelimit-Remaining-Requests": "0"}, 30 * time.Hour},
		{"openai overflowing bare seconds", map[string]string{"X-Ratelimit-Reset-Tokens": "9e99"}, MaxRetryAfter},
		{"anthropic output tokens", map[string]string{"Anthropic-Ratelimit-Output-Tokens-Reset": now.Add(3 * time.Second).Format(time.RFC3339), "Anthropic-Ratelimit-Output-Tokens-Remaining": "0"}, 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			if got := RetryAfter(h, now); got != tc.want {
				t.Errorf("RetryAfter = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestExtractJSONObject(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"  {\"a\": [1, {\"b\": \"}\"}]}\n", `{"a": [1, {"b": "}"}]}`},
		{"Sure! Here it is:\n```json\n{\"prompt\":\"x\",\"response\":\"y\"}\n```\nEnjoy.", `{"prompt":"x","response":"y"}`},
		{"Use {braces} wisely. {\"ok\":true} trailing", `{"ok":true}`},
		{`{"cut": "in the mid`, ""},
		{"no json here", ""},
	}
	for _, tc := range cases {
		got, ok := ExtractJSONObject(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ExtractJSONObject(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestTruncateAndScrub(t *testing.T) {
	long := strings.Repeat("ä", MaxRaw) // 2 bytes each
	got := Truncate(long)
	if !utf8.ValidString(got) || len(got) > MaxRaw+20 {
		t.Errorf("Truncate: %d bytes, valid=%v", len(got), utf8.ValidString(got))
	}
	if got := Truncate("ab\xc3"); !utf8.ValidString(got) {
		t.Errorf("Truncate kept invalid UTF-8: %q", got)
	}
	s := NewScrubber("sk-abcdef", "", "x")
	if got := s.String("key sk-abcdef and sk-abcdef, x stays"); got != "key [REDACTED] and [REDACTED], x stays" {
		t.Errorf("scrub: %q", got)
	}
}

func TestEncodeExtra(t *testing.T) {
	for _, tc := range []struct {
		v     any
		extra string
		want  string
	}{
		{map[string]int{"a": 1}, `"b":2`, `{"a":1,"b":2}`},
		{struct{}{}, `"b":2`, `{"b":2}`},
		{map[string]string{"a": "<&>"}, ``, "{\"a\":\"<&>\"}\n"},
	} {
		buf := GetBuffer()
		if err := encodeJSON(buf, tc.v, []byte(tc.extra)); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tc.want {
			t.Errorf("encode %v + %q = %q, want %q", tc.v, tc.extra, buf.String(), tc.want)
		}
		PutBuffer(buf)
	}
}
