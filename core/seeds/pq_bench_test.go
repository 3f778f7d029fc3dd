package seeds

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// BenchmarkIndexParquetRow reads rows of a 100,000-row Parquet file (row
// groups of 10,000) at random, as requests do.
func BenchmarkIndexParquetRow(b *testing.B) {
	path := filepath.Join(b.TempDir(), "seeds.parquet")
	rows := make([]parquetSeed, 100_000)
	for i := range rows {
		rows[i] = parquetSeed{ID: fmt.Sprintf("p%d", i), Prompt: fmt.Sprintf("Frage %d: Erkläre bitte, warum der Himmel blau ist.", i), Response: "Weil kurzwelliges Licht stärker gestreut wird.", Language: "de", Strategies: []string{"respond"}}
	}
	if err := parquet.WriteFile(path, rows, parquet.MaxRowsPerRowGroup(10_000)); err != nil {
		b.Fatal(err)
	}
	ix, err := NewIndex([]*spec.SeedSet{{Name: "s", Path: path, Files: []string{path}, Format: "parquet"}})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	b.ResetTimer()
	for i := range b.N {
		if _, err := ix.Row(i * 7919 % ix.Len()); err != nil {
			b.Fatal(err)
		}
	}
}
