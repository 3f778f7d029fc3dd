package secret

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/sdk/redact"
)

const key = "sk-secret-test-<0123456789>"

// TestDriverRedactsEveryArgument writes a key through every statement
// form the store uses (Exec, a prepared statement, INSERT ... RETURNING as
// a query, a blob) and reads the file back with the plain driver.
func TestDriverRedactsEveryArgument(t *testing.T) {
	Add(key)
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := sql.Open(SQLiteDriver, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (s TEXT, b BLOB)`); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("x" + key))
	if _, err := db.Exec(`INSERT INTO t VALUES (?, ?)`, "exec "+key, []byte(`{"raw":"`+b64+`"}`)); err != nil {
		t.Fatal(err)
	}
	st, err := db.Prepare(`INSERT INTO t VALUES (?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Exec("prepared "+key, nil); err != nil {
		t.Fatal(err)
	}
	tx, _ := db.Begin()
	var got string
	if err := tx.QueryRow(`INSERT INTO t VALUES (?, NULL) RETURNING s`, "returning "+key).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got != "returning "+redact.Mask {
		t.Errorf("RETURNING gave %q", got)
	}
	plain, _ := sql.Open("sqlite", path)
	defer plain.Close()
	rows, err := plain.Query(`SELECT s, COALESCE(b, '') FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var s string
		var b []byte
		rows.Scan(&s, &b)
		n++
		if strings.Contains(s, key) || bytes.Contains(b, []byte(b64[4:20])) || !strings.Contains(s, redact.Mask) {
			t.Errorf("stored unredacted: %q %q", s, b)
		}
	}
	if n != 3 {
		t.Fatalf("%d rows", n)
	}
}

func TestWriterRedactsAndUnwraps(t *testing.T) {
	Add(key)
	var buf bytes.Buffer
	w := Writer(&buf)
	w.Write([]byte("log " + strings.NewReplacer("<", `\u003c`, ">", `\u003e`).Replace(key) + "\n"))
	if strings.Contains(buf.String(), "0123456789") {
		t.Fatalf("logged %q", buf.String())
	}
	if u, ok := w.(interface{ Unwrap() io.Writer }); !ok || u.Unwrap() != &buf {
		t.Fatal("the writer does not unwrap to its target")
	}
}
