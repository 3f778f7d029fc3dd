package mocorpus

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadMO(t *testing.T) {
	got, err := ReadMO("testdata/de_AT/LC_MESSAGES/test.mo")
	if err != nil {
		t.Fatal(err)
	}
	// msgfmt sorts by msgid; the header, the untranslated and the copied "GNU" are gone.
	want := []string{"%d Datei gelöscht", "Datei öffnen", "Zwei\n\tZeilen", "_Speichern unter …"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadMO (-want +got):\n%s", diff)
	}
}

func TestParseMOErrors(t *testing.T) {
	full, err := os.ReadFile("testdata/de_AT/LC_MESSAGES/test.mo")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than its 20-byte header"},
		{"bad magic", append([]byte("XXXX"), full[4:]...), "bad magic"},
		{"truncated tables", full[:40], "past end of file"},
		{"truncated strings", full[:len(full)-20], "past end of file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMO(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"_Speichern unter …", "Speichern unter …"},
		{"%d Datei gelöscht", "Datei gelöscht"},
		{"%1$s und %-10.3lf", "und"},
		{"Zwei\n\tZeilen  ", "Zwei Zeilen"},
		{"&Datei", "Datei"},
		{"100%", "100%"},
	} {
		if got := Clean(tc.in); got != tc.want {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLocaleLang(t *testing.T) {
	for in, want := range map[string]string{"pt_BR": "pt", "sr@latin": "sr", "de.UTF-8": "de", "ZH_cn": "zh", "ast": "ast"} {
		if got := LocaleLang(in); got != want {
			t.Errorf("LocaleLang(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCollectAndInterleave(t *testing.T) {
	by, err := Collect("testdata", 5)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"de": {"Datei gelöscht", "Datei öffnen", "Zwei Zeilen", "Speichern unter …"},
		"pt": {"Abrir arquivo", "Salvar"},
	}
	if diff := cmp.Diff(want, by); diff != "" {
		t.Errorf("Collect (-want +got):\n%s", diff)
	}
	lines := Interleave(by, 5)
	got := make([]string, len(lines))
	for i, l := range lines {
		got[i] = l.Lang + ":" + l.Text
	}
	wantLines := []string{"de:Datei gelöscht", "pt:Abrir arquivo", "de:Datei öffnen", "pt:Salvar", "de:Zwei Zeilen"}
	if diff := cmp.Diff(wantLines, got); diff != "" {
		t.Errorf("Interleave (-want +got):\n%s", diff)
	}
	if all := Interleave(by, 100); len(all) != 6 {
		t.Errorf("Interleave beyond the corpus gave %d lines, want 6", len(all))
	}
	if _, err := Collect(t.TempDir(), 1); err == nil || !strings.Contains(err.Error(), "no .mo catalogs") {
		t.Errorf("empty root: err = %v", err)
	}
}
