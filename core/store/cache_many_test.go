package store

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestCachePutManyAndGet(t *testing.T) {
	c, err := OpenCache(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CachePutMany([]CacheEntry{{"a", []byte("1")}, {"b", []byte("2")}, {"", []byte("skipped")}}); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"a": "1", "b": "2"} {
		v, ok, err := c.CacheGet(k)
		if err != nil || !ok || string(v) != want {
			t.Errorf("%s: %q %v %v", k, v, ok, err)
		}
	}
	if _, ok, _ := c.CacheGet(""); ok {
		t.Error("an empty hash must not be stored")
	}
}

// CacheGetMany finds exactly the stored hashes, in either kind of cache.
func TestCacheGetMany(t *testing.T) {
	file, err := OpenCache(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range []struct {
		name  string
		cache interface {
			Cache
			CacheGetMany([]string) (map[string][]byte, error)
		}
	}{{"file", file}, {"store", st}} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.cache.CachePutMany([]CacheEntry{{"a", []byte("1")}, {"b", []byte("2")}, {`q"uote`, []byte("3")}}); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				ask  []string
				want map[string]string
			}{
				{nil, map[string]string{}},
				{[]string{"a"}, map[string]string{"a": "1"}},
				{[]string{"a", "zz", "b", "a"}, map[string]string{"a": "1", "b": "2"}},
				{[]string{`q"uote`, ""}, map[string]string{`q"uote`: "3"}},
				{[]string{"nope"}, map[string]string{}},
			} {
				got, err := c.cache.CacheGetMany(tc.ask)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Errorf("%q: got %d hashes, want %d", tc.ask, len(got), len(tc.want))
				}
				for k, v := range tc.want {
					if string(got[k]) != v {
						t.Errorf("%q: %s = %q, want %q", tc.ask, k, got[k], v)
					}
				}
			}
		})
	}
}

// A cache file and a store written before the responses table keep their
// answers: the migration moves every request hash's answer.
func TestCacheMigratesToResponses(t *testing.T) {
	hexA := strings.Repeat("ab", 32)
	hexB := strings.Repeat("0f", 32)
	legacy := func(db *sql.DB) { // fills and closes db
		t.Helper()
		defer db.Close()
		for _, row := range [][2]string{{hexA, "answer A"}, {hexB, "answer B"}, {"not-a-request-hash", "dropped"}} {
			if _, err := db.Exec(`INSERT INTO cache (hash, value, created) VALUES (?,?,1)`, row[0], []byte(row[1])); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(c interface {
		Cache
		CacheGetMany([]string) (map[string][]byte, error)
	}) {
		t.Helper()
		for h, want := range map[string]string{hexA: "answer A", hexB: "answer B"} {
			v, ok, err := c.CacheGet(h)
			if err != nil || !ok || string(v) != want {
				t.Errorf("CacheGet(%s…) = %q %v %v, want %q", h[:8], v, ok, err, want)
			}
		}
		got, err := c.CacheGetMany([]string{hexA, hexB, "not-a-request-hash"})
		if err != nil || len(got) != 2 || string(got[hexB]) != "answer B" {
			t.Errorf("CacheGetMany = %q, %v", got, err)
		}
	}

	t.Run("file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.db")
		legacy(schemaAt(t, p, cacheMigrations[:1]))
		c, err := OpenCache(p)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		check(c)
	})
	t.Run("store", func(t *testing.T) {
		dir := t.TempDir()
		legacy(schemaAt(t, filepath.Join(dir, DBName), migrations[:2]))
		st, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		check(st)
	})
}

// Two request hashes that share their index key k stay apart.
func TestCacheKeepsHashesWithTheSameK(t *testing.T) {
	c, err := OpenCache(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := strings.Repeat("1", cacheKDigits) + strings.Repeat("a", 64-cacheKDigits)
	b := strings.Repeat("1", cacheKDigits) + strings.Repeat("b", 64-cacheKDigits)
	if cacheK(a) != cacheK(b) {
		t.Fatal("test hashes must share k")
	}
	if cacheK("h1") == cacheK("h2") || cacheK(a) == cacheK("h1") {
		t.Error("k of other strings collide")
	}
	if err := c.CachePutMany([]CacheEntry{{a, []byte("A")}, {b, []byte("B")}, {a, []byte("A again")}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.CacheGetMany([]string{a, b})
	if err != nil || string(got[a]) != "A again" || string(got[b]) != "B" {
		t.Errorf("CacheGetMany = %q, %v", got, err)
	}
	if v, ok, err := c.CacheGet(b); err != nil || !ok || string(v) != "B" {
		t.Errorf("CacheGet(b) = %q %v %v", v, ok, err)
	}
	other := strings.Repeat("1", cacheKDigits) + strings.Repeat("c", 64-cacheKDigits)
	if v, ok, _ := c.CacheGet(other); ok {
		t.Errorf("a hash never stored was found: %q", v)
	}
}

// Two processes opening an old cache file at once both get it, and the
// answers are moved once.
func TestCacheUpgradeRace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.db")
	db := schemaAt(t, p, cacheMigrations[:1])
	const n = 2000
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := tx.Exec(`INSERT INTO cache (hash, value, created) VALUES (?,?,1)`, fmt.Sprintf("%064x", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := OpenCache(p)
			if err == nil {
				c.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent upgrade: %v", err)
		}
	}
	c, err := OpenCache(p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rows int
	if err := c.db.QueryRow(`SELECT count(*) FROM responses`).Scan(&rows); err != nil || rows != n {
		t.Errorf("%d answers after the upgrade, want %d (%v)", rows, n, err)
	}
}

// schemaAt creates a database at path with the schema an older polyglot
// left: the migrations in list.
func schemaAt(t *testing.T, path string, list []string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateList(db, 0, list); err != nil {
		t.Fatal(err)
	}
	return db
}
