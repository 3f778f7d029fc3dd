package export

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAppendRecordJSON(t *testing.T) {
	texts := []string{
		"", "plain", `quote " and back\slash`, "new\nline\r\ttab\b\f", "ctl \x00\x01\x1f\x7f",
		"<html> & 'x'", "日本語 العربية Čeština", "bad utf8 \xff\xfe end", "trunc \xe6\x97",
		"sep \u2028 and \u2029", "emoji 🙂", "\u00e9\u0301",
	}
	for _, s := range texts {
		r := Record{Messages: []Message{{Role: "user", Content: s}, {Role: "assistant", Content: s + s}}, Teacher: s, Language: "de", Strategy: s, ID: s}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
		if got := appendRecordJSON(nil, &r); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("text %q:\n got %s\nwant %s", s, got, want.Bytes())
		}
	}
}
