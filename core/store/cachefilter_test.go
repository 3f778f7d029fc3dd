package store

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func testHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Lookups of answers the file does not hold do not reach SQLite; answers
// it holds, written before it was opened or since, are found.
func TestCacheFileFilterSkipsMisses(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.db")
	before, err := OpenCache(p)
	if err != nil {
		t.Fatal(err)
	}
	var old []CacheEntry
	for i := range 50 {
		old = append(old, CacheEntry{testHash("old" + strconv.Itoa(i)), []byte("v")})
	}
	if err := before.CachePutMany(old); err != nil {
		t.Fatal(err)
	}
	before.Close()

	c, err := OpenCache(p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var absent []string
	for i := range 1000 {
		absent = append(absent, testHash("absent"+strconv.Itoa(i)))
	}
	found, err := c.CacheGetMany(absent)
	if err != nil || len(found) != 0 {
		t.Fatalf("absent answers: %d found, %v", len(found), err)
	}
	if n := c.sqlLookups.Load(); n > 50 { // 1 % false positives, with room
		t.Errorf("%d of 1000 absent hashes were looked up in SQLite", n)
	}
	if err := c.CachePutMany([]CacheEntry{{absent[0], []byte("new")}}); err != nil {
		t.Fatal(err)
	}
	found, err = c.CacheGetMany([]string{absent[0], old[7].Hash, old[49].Hash})
	if err != nil || len(found) != 3 || string(found[absent[0]]) != "new" {
		t.Errorf("present answers: %q, %v", found, err)
	}
	if v, ok, err := c.CacheGet(old[3].Hash); err != nil || !ok || string(v) != "v" {
		t.Errorf("CacheGet = %q %v %v", v, ok, err)
	}
}

// An answer another process stores is found once the filter has read it
// in (filterRefresh), and a filter that outgrows its size is rebuilt.
func TestCacheFileFilterFollowsOtherProcesses(t *testing.T) {
	defer func(r time.Duration, m uint) { filterRefresh, filterMinSize = r, m }(filterRefresh, filterMinSize)
	filterRefresh, filterMinSize = 10*time.Millisecond, 64
	p := filepath.Join(t.TempDir(), "c.db")
	a, err := OpenCache(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenCache(p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := testHash("shared")
	if found, _ := a.CacheGetMany([]string{h}); len(found) != 0 {
		t.Fatal("found before it was stored")
	}
	if err := b.CachePut(h, []byte("from b")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * filterRefresh)
	if found, err := a.CacheGetMany([]string{h}); err != nil || string(found[h]) != "from b" {
		t.Fatalf("another process's answer: %q, %v", found, err)
	}
	// Outgrow the filter (sized for 64 keys): every answer is still found.
	var many []CacheEntry
	var hashes []string
	for i := range 300 {
		e := CacheEntry{testHash("many" + strconv.Itoa(i)), []byte(strconv.Itoa(i))}
		many = append(many, e)
		hashes = append(hashes, e.Hash)
	}
	if err := b.CachePutMany(many[:150]); err != nil {
		t.Fatal(err)
	}
	if err := a.CachePutMany(many[150:]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * filterRefresh)
	found, err := a.CacheGetMany(hashes)
	if err != nil || len(found) != 300 || string(found[hashes[299]]) != "299" {
		t.Fatalf("after growing: %d found, %v", len(found), err)
	}
	if a.filter.size < 300 {
		t.Errorf("the filter was not rebuilt larger: sized for %d keys", a.filter.size)
	}
}
