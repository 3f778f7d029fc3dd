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
// answers through the responses migration: it moves every request hash's
// answer. (The identity migration after it drops them; see
// TestCacheDropsAnswersWithoutIdentity.)
func TestCacheMigratesToResponses(t *testing.T) {
	hexA := strings.Repeat("ab", 32)
	hexB := strings.Repeat("0f", 32)
	for _, tc := range []struct {
		name       string
		before, to []string // the schema written, and migrated to
	}{
		{"file", cacheMigrations[:1], cacheMigrations[:2]},
		{"store", migrations[:2], migrations[:3]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := schemaAt(t, filepath.Join(t.TempDir(), "c.db"), tc.before)
			defer db.Close()
			for _, row := range [][2]string{{hexA, "answer A"}, {hexB, "answer B"}, {"not-a-request-hash", "dropped"}} {
				if _, err := db.Exec(`INSERT INTO cache (hash, value, created) VALUES (?,?,1)`, row[0], []byte(row[1])); err != nil {
					t.Fatal(err)
				}
			}
			if err := migrateList(db, len(tc.before), tc.to); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			rows, err := db.Query(`SELECT k, hash, value FROM responses INDEXED BY responses_k`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var k int64
				var h, v string
				if err := rows.Scan(&k, &h, &v); err != nil {
					t.Fatal(err)
				}
				if k != cacheK(h) {
					t.Errorf("%s…: k %d, want %d", h[:8], k, cacheK(h))
				}
				got[h] = v
			}
			if len(got) != 2 || got[hexA] != "answer A" || got[hexB] != "answer B" {
				t.Errorf("moved %q, want the two request hashes' answers", got)
			}
		})
	}
}

// Answers cached before keys named the plugin's build and the request
// (identityMigration) are never served: a cache file and a store of that
// schema open without them, and take new answers. The store keeps its
// examples, which gain zero saved_usd and cached_calls.
func TestCacheDropsAnswersWithoutIdentity(t *testing.T) {
	old := strings.Repeat("ab", 32)
	fill := func(db *sql.DB) {
		t.Helper()
		defer db.Close()
		if _, err := db.Exec(`INSERT INTO responses (k, hash, value, created) VALUES (?,?,?,1)`, cacheK(old), old, []byte("another plugin's answer")); err != nil {
			t.Fatal(err)
		}
	}
	check := func(c interface {
		Cache
		CacheGetMany([]string) (map[string][]byte, error)
	}) {
		t.Helper()
		if v, ok, err := c.CacheGet(old); ok || err != nil {
			t.Errorf("CacheGet served an answer cached without identity: %q %v", v, err)
		}
		if got, err := c.CacheGetMany([]string{old}); len(got) != 0 || err != nil {
			t.Errorf("CacheGetMany served an answer cached without identity: %q %v", got, err)
		}
		if err := c.CachePut(old, []byte("new")); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := c.CacheGet(old); !ok || err != nil || string(v) != "new" {
			t.Errorf("after a new put: %q %v %v", v, ok, err)
		}
	}
	t.Run("file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.db")
		fill(schemaAt(t, p, cacheMigrations[:2]))
		c, err := OpenCache(p)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		check(c)
	})
	t.Run("store", func(t *testing.T) {
		dir := t.TempDir()
		db := schemaAt(t, filepath.Join(dir, DBName), migrations[:3])
		if _, err := db.Exec(`INSERT INTO examples (key, unit_key, teacher, model, language, strategy, seed, seed_row_id, idx, prompt, response, input_tokens, output_tokens, latency_ms, cost_usd, created)
VALUES ('k1','u','t','m','de','s',1,'r',0,'p','r',10,20,5,0.5,1)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO cell_totals (teacher, language, strategy, seed, examples, input_tokens, output_tokens, cost_usd) VALUES ('t','de','s',1,1,10,20,0.5)`); err != nil {
			t.Fatal(err)
		}
		fill(db)
		st, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		check(st)
		var n int
		err = st.Examples(Filter{}, func(e *Example) error {
			n++
			if e.Key != "k1" || e.InputTokens != 10 || e.CostUSD != 0.5 || e.SavedUSD != 0 || e.CachedCalls != 0 {
				t.Errorf("example after the migration: %+v", e)
			}
			return nil
		})
		if err != nil || n != 1 {
			t.Fatalf("%d examples after the migration (%v), want 1", n, err)
		}
		sum, err := st.Summary()
		if err != nil {
			t.Fatal(err)
		}
		if tot := sum.Total; tot.Examples != 1 || tot.CostUSD != 0.5 || tot.SavedUSD != 0 {
			t.Errorf("totals after the migration: %+v", tot)
		}
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

// Two processes upgrading an old cache file at once both get it, and the
// answers are moved once; opening it then drops them (identityMigration).
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
	upgradeAll := func(open func() error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = open()
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("concurrent upgrade: %v", err)
			}
		}
	}
	// Up to the responses table, each process with its own connections,
	// as OpenCache has them (WAL, busy timeout).
	upgradeAll(func() error {
		db, err := sql.Open("sqlite", dsn(p, false, readerCacheKiB))
		if err != nil {
			return err
		}
		defer db.Close()
		var mode string
		if err := enableWAL(db, &mode); err != nil {
			return err
		}
		var ver int
		if err := db.QueryRow("PRAGMA user_version").Scan(&ver); err != nil {
			return err
		}
		return migrateList(db, ver, cacheMigrations[:2])
	})
	db = schemaAt(t, p, nil)
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM responses`).Scan(&rows); err != nil || rows != n {
		t.Errorf("%d answers after the upgrade, want %d (%v)", rows, n, err)
	}
	db.Close()
	upgradeAll(func() error {
		c, err := OpenCache(p)
		if err == nil {
			c.Close()
		}
		return err
	})
	c, err := OpenCache(p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ver int
	if err := c.db.QueryRow(`SELECT count(*) FROM responses`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("%d answers cached without identity kept, want 0 (%v)", rows, err)
	}
	if err := c.db.QueryRow(`PRAGMA user_version`).Scan(&ver); err != nil || ver != len(cacheMigrations) {
		t.Errorf("schema %d, want %d (%v)", ver, len(cacheMigrations), err)
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
