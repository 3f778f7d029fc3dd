package judge

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVerdict(t *testing.T) {
	crit := []string{"a", "b"}
	for _, tc := range []struct {
		name, text string
		want       map[string]float64 // nil: a failure
		extracted  bool
		err        string
	}{
		{"strict", `{"scores":{"a":1,"b":5},"rationale":"r"}`, map[string]float64{"a": 1, "b": 5}, false, ""},
		{"whitespace around", "\n  {\"scores\":{\"a\":2,\"b\":3}}  \n", map[string]float64{"a": 2, "b": 3}, false, ""},
		{"numeric strings", `{"scores":{"a":"4","b":" 2 "}}`, map[string]float64{"a": 4, "b": 2}, false, ""},
		{"extra criteria ignored", `{"scores":{"a":3,"b":3,"c":9}}`, map[string]float64{"a": 3, "b": 3}, false, ""},
		{"fence", "```json\n{\"scores\":{\"a\":3,\"b\":4}}\n```", map[string]float64{"a": 3, "b": 4}, true, ""},
		{"skips objects without scores", `first {"note":"hi"} then {"scores":{"a":5,"b":1}}`, map[string]float64{"a": 5, "b": 1}, true, ""},
		{"skips broken braces", `{oops} {"scores":{"a":5,"b":1}}`, map[string]float64{"a": 5, "b": 1}, true, ""},
		{"nested in an envelope", `{"verdict": {"scores":{"a":2,"b":2}}`, map[string]float64{"a": 2, "b": 2}, true, ""},
		{"empty", "   ", nil, false, "empty"},
		{"no object", "four out of five", nil, false, "no JSON object"},
		{"object without scores", `{"verdict":"good"}`, nil, false, `no "scores"`},
		{"scores not an object", `{"scores":[4,5]}`, nil, false, "not an object"},
		{"null score", `{"scores":{"a":null,"b":3}}`, nil, false, "not a number"},
		{"word", `{"scores":{"a":"five","b":3}}`, nil, false, `score "five" is not a number`},
		{"zero", `{"scores":{"a":0,"b":3}}`, nil, false, "outside 1–5"},
		{"above", `{"scores":{"a":5.5,"b":3}}`, nil, false, "outside 1–5"},
		{"missing", `{"scores":{"a":3}}`, nil, false, `"b" is missing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVerdict(tc.text, crit)
			if tc.want == nil {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, v.Scores); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
			if v.Extracted != tc.extracted {
				t.Errorf("extracted = %v, want %v", v.Extracted, tc.extracted)
			}
		})
	}
}
