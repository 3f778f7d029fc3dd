package store

import (
	"path/filepath"
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
