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

func TestAppendRowJSON(t *testing.T) {
	values := []float64{0, 1, -2.5, 1e-7, 123456789012345678901234.0, 0.1, 1.0 / 3}
	for i, s := range []string{"", "plain", `q " \ x`, "日本語\n", "<a> & b", "bad \xff"} {
		r := Row{Messages: []Message{{Role: "user", Content: s}, {Role: "assistant", Content: s}}, ID: s, Language: "de", Split: SplitTrain,
			Teacher: s, Model: s, Strategy: s, Seed: int64(i) - 2, SeedRow: s, Params: `{"temperature":0.7}`, System: s}
		if i%2 == 1 {
			for _, v := range values {
				r.Metrics = append(r.Metrics, MetricValue{Metric: "m" + s, Value: v})
			}
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
		if got := appendRowJSON(nil, &r); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("row %d:\n got %s\nwant %s", i, got, want.Bytes())
		}
	}
}
