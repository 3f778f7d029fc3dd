package seeds

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decodeRecord takes a fast decoder first; it must accept and reject
// exactly the lines encoding/json does, with the same values.
func TestDecodeRecordAgreesWithEncodingJSON(t *testing.T) {
	for _, line := range []string{
		`{"prompt":"Hallo","n":3,"x":1.5e3,"tags":["a","b"],"nested":{"k":null},"b":true}`,
		`{"prompt":"dup","prompt":"last wins"}`,
		`{"esc":"\u00e9\n\t\"\\\/"}`,
		`  {"spaces":1}  `,
		`{"big":123456789012345678901234567890}`,
		`{}`,
		`null`,
		`[1,2]`,
		`"text"`,
		`{"a":1} x`,
		`{"a":1}{"b":2}`,
		`{"a":01}`,
		`{"a":1.}`,
		`{"a":.5}`,
		`{"a":+1}`,
		`{"a":NaN}`,
		`{"a":"\x"}`,
		`{"a":"\ud800"}`,
		"{\"a\":\"tab\tinside\"}",
		`{"a":1,}`,
		`{'a':1}`,
		`{a:1}`,
		`{"a":tru}`,
		`{"a":[1,2,]}`,
		`{"a":1`,
		`{"a":"unterminated`,
	} {
		got, gotErr := decodeRecord([]byte(line))
		var want map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		wantErr := dec.Decode(&want)
		if wantErr == nil && dec.More() {
			wantErr = errors.New("extra data")
		}
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%s: decodeRecord error %v, encoding/json %v", line, gotErr, wantErr)
			continue
		}
		if gotErr == nil && !cmp.Equal(got, want) {
			t.Errorf("%s: %s", line, cmp.Diff(want, got))
		}
	}
}
