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
