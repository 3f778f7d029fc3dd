package seeds

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

func set(t *testing.T, file, format string, cols spec.SeedColumns, lang string) *spec.SeedSet {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return &spec.SeedSet{Name: "human", Path: "testdata/" + file, Files: []string{abs}, Format: format, Columns: cols, Language: lang}
}

func readAll(s *spec.SeedSet) ([]Row, error) {
	var rows []Row
	err := Read(s, func(r Row) error { rows = append(rows, r); return nil })
	return rows, err
}

func TestReadGood(t *testing.T) {
	tests := []struct {
		name string
		set  func(t *testing.T) *spec.SeedSet
		want []Row
	}{
		{
			name: "jsonl",
			set:  func(t *testing.T) *spec.SeedSet { return set(t, "good.jsonl", "jsonl", spec.SeedColumns{}, "") },
			want: []Row{
				{ID: "h-1", Prompt: "Wie spät ist es?", Response: "Es ist drei Uhr.", Language: "de", Strategies: []string{"respond", "generate"}, Tags: []string{"chat", "time"}, File: "testdata/good.jsonl", Line: 1},
				{ID: "2", Prompt: "今日は何曜日ですか？", Response: "月曜日です。", Language: "ja", Strategies: []string{"respond", "translate"}, Tags: []string{"calendar"}, File: "testdata/good.jsonl", Line: 2},
				{ID: "good.jsonl:4", Prompt: "What is 2+2?", Response: "4", Language: "en", File: "testdata/good.jsonl", Line: 4},
			},
		},
		{
			name: "csv with mapping, BOM, quoted newline, JSON-array cell",
			set: func(t *testing.T) *spec.SeedSet {
				return set(t, "good.csv", "csv", spec.SeedColumns{ID: "id", Prompt: "text", Response: "answer", Language: "lang", Strategies: "strategies", Tags: "tags"}, "")
			},
			want: []Row{
				{ID: "c1", Prompt: "Hola, ¿qué tal?", Response: "Bien", Language: "es", Strategies: []string{"respond"}, Tags: []string{"greeting"}, File: "testdata/good.csv", Line: 2},
				{ID: "c2", Prompt: "Line one\nline two", Response: "Antwort", Language: "de", Strategies: []string{"respond", "generate"}, File: "testdata/good.csv", Line: 3},
				{ID: "good.csv:5", Prompt: "Ahlan", Response: "Marhaba", Language: "ar", Strategies: []string{"translate"}, Tags: []string{"a", "b"}, File: "testdata/good.csv", Line: 5},
			},
		},
		{
			name: "parquet with list column",
			set:  func(t *testing.T) *spec.SeedSet { return set(t, "good.parquet", "parquet", spec.SeedColumns{}, "") },
			want: []Row{
				{ID: "p1", Prompt: "Apa kabar?", Response: "Baik.", Language: "id", Strategies: []string{"respond", "generate"}, Tags: []string{"greeting"}, File: "testdata/good.parquet", Line: 1},
				{ID: "p2", Prompt: "Kumusta?", Response: "Mabuti.", Language: "tl", Tags: []string{"x", "y"}, File: "testdata/good.parquet", Line: 2},
				{ID: "good.parquet:3", Prompt: "Ahoj", Response: "", Language: "cs", Strategies: []string{"translate"}, File: "testdata/good.parquet", Line: 3},
			},
		},
		{
			name: "fixed language when the data has none",
			set:  func(t *testing.T) *spec.SeedSet { return set(t, "nolang.jsonl", "jsonl", spec.SeedColumns{}, "de") },
			want: []Row{{ID: "nolang.jsonl:1", Prompt: "ok", Language: "de", File: "testdata/nolang.jsonl", Line: 1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(tc.set(t))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("rows (-want +got):\n%s", d)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		fmt   string
		cols  spec.SeedColumns
		lang  string
		where string // "file:line" prefix expected
		want  []string
	}{
		{"corrupt jsonl", "corrupt.jsonl", "jsonl", spec.SeedColumns{}, "", "testdata/corrupt.jsonl:2:", []string{"invalid JSON", "fix or delete this line"}},
		{"truncated jsonl", "truncated.jsonl", "jsonl", spec.SeedColumns{}, "", "testdata/truncated.jsonl:2:", []string{"truncated JSON", "cut off"}},
		{"non-utf8 jsonl", "nonutf8.jsonl", "jsonl", spec.SeedColumns{}, "", "testdata/nonutf8.jsonl:2:", []string{"not valid UTF-8", "0xe9", "iconv"}},
		{"empty prompt", "emptyprompt.jsonl", "jsonl", spec.SeedColumns{}, "", "testdata/emptyprompt.jsonl:3:", []string{"empty prompt", `"prompt"`}},
		{"array line", "array.jsonl", "jsonl", spec.SeedColumns{}, "", "testdata/array.jsonl:1:", []string{"not an object"}},
		{"no language", "nolang.jsonl", "jsonl", spec.SeedColumns{}, "", "testdata/nolang.jsonl:1:", []string{`column "language" not found`, `language = "<tag>"`, `seeds "human"`}},
		{"bad list", "badlist.jsonl", "jsonl", spec.SeedColumns{}, "", "testdata/badlist.jsonl:1:", []string{`column "strategies"`, "JSON array of strings"}},
		{"renamed column absent in jsonl", "good.jsonl", "jsonl", spec.SeedColumns{Response: "answer"}, "", "testdata/good.jsonl:1:", []string{`column "answer" not found`, "it has: id, language, prompt, response, strategies, tags", "`columns { response = ... }`"}},
		{"csv field count", "fields.csv", "csv", spec.SeedColumns{}, "", "testdata/fields.csv:3:", []string{"header's 3 fields", "quote fields"}},
		{"csv missing column", "missingcol.csv", "csv", spec.SeedColumns{Prompt: "text"}, "", "testdata/missingcol.csv:1:", []string{`column "text" not found`, "it has: a, b, c — fix `columns { prompt = ... }` in seeds \"human\""}},
		{"csv non-utf8", "nonutf8.csv", "csv", spec.SeedColumns{}, "", "testdata/nonutf8.csv:3:", []string{"not valid UTF-8"}},
		{"csv bad quote", "badquote.csv", "csv", spec.SeedColumns{}, "", "testdata/badquote.csv:2:", []string{"malformed CSV", "quote"}},
		{"csv empty", "empty.csv", "csv", spec.SeedColumns{}, "", "testdata/empty.csv:", []string{"empty", "header row"}},
		{"unreadable parquet", "bad.parquet", "parquet", spec.SeedColumns{}, "", "testdata/bad.parquet:", []string{"not a readable Parquet file", "download it again"}},
		{"parquet missing column", "good.parquet", "parquet", spec.SeedColumns{Prompt: "question"}, "", "testdata/good.parquet:", []string{`column "question" not found`, "it has: id, language, prompt, response, strategies, tags"}},
		{"missing file", "nope.jsonl", "jsonl", spec.SeedColumns{}, "", "testdata/nope.jsonl:", []string{"cannot read the file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(set(t, tc.file, tc.fmt, tc.cols, tc.lang))
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error = %v (%T), want *seeds.Error", err, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.where) {
				t.Errorf("error %q does not start with %q", msg, tc.where)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestReadStopsOnCallbackErrorAndStreamsManyFiles(t *testing.T) {
	a, _ := filepath.Abs("testdata/good.jsonl")
	b, _ := filepath.Abs("testdata/good.csv")
	s := &spec.SeedSet{Name: "x", Path: "testdata/good.*", Files: []string{a, a}, Format: "jsonl"}
	rows, err := readAll(s)
	if err != nil || len(rows) != 6 {
		t.Fatalf("two files: %d rows, %v", len(rows), err)
	}
	boom := errors.New("boom")
	n := 0
	err = Read(s, func(Row) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("callback error: n=%d err=%v", n, err)
	}
	if err := Read(&spec.SeedSet{Name: "x", Files: []string{b}, Format: "xml"}, func(Row) error { return nil }); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("unknown format: %v", err)
	}
	if err := Read(&spec.SeedSet{Name: "x", Path: "none/*"}, func(Row) error { return nil }); err == nil || !strings.Contains(err.Error(), "no files") {
		t.Errorf("no files: %v", err)
	}
}

// A long JSONL line (larger than any fixed scanner buffer) is read whole.
func TestLongJSONLLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "long.jsonl")
	long := strings.Repeat("ä", 3<<20)
	if err := os.WriteFile(p, []byte(`{"prompt":"`+long+`","language":"de"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err := readAll(&spec.SeedSet{Name: "x", Path: p, Files: []string{p}, Format: "jsonl"})
	if err != nil || len(rows) != 1 || rows[0].Prompt != long {
		t.Fatalf("long line: %d rows, %v", len(rows), err)
	}
}

type parquetSeed struct {
	ID         string   `parquet:"id,optional"`
	Prompt     string   `parquet:"prompt"`
	Response   string   `parquet:"response,optional"`
	Language   string   `parquet:"language"`
	Strategies []string `parquet:"strategies,list"`
	Tags       string   `parquet:"tags,optional"`
}

// TestWriteParquetFixture regenerates testdata/good.parquet when
// POLYGLOT_REGEN_FIXTURES=1; otherwise it checks the fixture is current.
func TestWriteParquetFixture(t *testing.T) {
	rows := []parquetSeed{
		{ID: "p1", Prompt: "Apa kabar?", Response: "Baik.", Language: "id", Strategies: []string{"respond", "generate"}, Tags: "greeting"},
		{ID: "p2", Prompt: "Kumusta?", Response: "Mabuti.", Language: "tl", Tags: "x;y"},
		{Prompt: "Ahoj", Language: "cs", Strategies: []string{"translate"}},
	}
	path := filepath.Join("testdata", "good.parquet")
	if os.Getenv("POLYGLOT_REGEN_FIXTURES") != "1" {
		got, err := parquet.ReadFile[parquetSeed](path)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(rows, got, cmp.Transformer("nilEmpty", func(s []string) []string {
			if len(s) == 0 {
				return nil
			}
			return s
		})); d != "" {
			t.Errorf("fixture out of date; run with POLYGLOT_REGEN_FIXTURES=1 (-want +got):\n%s", d)
		}
		return
	}
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkReadJSONL reads a 100,000-row JSONL file (one op is one row),
// as a large generation run does before its first request.
func BenchmarkReadJSONL(b *testing.B) {
	const rows = 100_000
	path := writeBenchSeeds(b, rows)
	set := &spec.SeedSet{Name: "bench", Path: path, Files: []string{path}, Format: "jsonl"}
	b.ResetTimer()
	for done := 0; done < b.N; done += rows {
		n := 0
		if err := Read(set, func(Row) error { n++; return nil }); err != nil || n != rows {
			b.Fatalf("read %d rows: %v", n, err)
		}
	}
}

func writeBenchSeeds(b *testing.B, rows int) string {
	path := filepath.Join(b.TempDir(), "seeds.jsonl")
	var buf strings.Builder
	for i := range rows {
		fmt.Fprintf(&buf, `{"id":"de-%d","prompt":"Frage %d: Erkläre bitte, warum der Himmel blau ist, und nenne ein Beispiel.","response":"Weil kurzwelliges Licht stärker gestreut wird (Rayleigh-Streuung).","language":"de","strategies":["respond","translate"],"tags":["bench","t%d"]}`+"\n", i, i, i%10)
	}
	if err := os.WriteFile(path, []byte(buf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}
