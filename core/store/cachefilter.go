package store

import (
	"database/sql"
	"encoding/binary"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
)

// keyFilter knows which index keys (cacheK) a cache file holds, so that a
// lookup that cannot hit skips SQLite. In a generation run nearly every
// lookup misses, and each query cost a read transaction and an index
// search per request. A Bloom filter (bits-and-blooms/bloom) says "maybe"
// for every key present and "no" for almost every key absent, in about a
// byte per answer cached.
//
// The filter is filled from the file on the first lookup and then follows
// it: this process's own writes are added as they commit, and rows other
// processes append (ids beyond the last one read) are read in at most every
// filterRefresh. An answer another run stored less than that ago can be
// missed, as if the two runs had asked at the same moment.
type keyFilter struct {
	mu      sync.Mutex
	bf      *bloom.BloomFilter
	size    uint      // keys the filter was sized for
	n       uint      // keys added
	maxID   int64     // the highest row id read from the file
	checked time.Time // when rows of other processes were last read in
}

// filterRefresh bounds how stale the filter is about other processes'
// answers.
var filterRefresh = time.Second

// filterMinSize keeps small caches from resizing the filter often.
var filterMinSize uint = 1 << 20

// mayHold reports, per hash, whether the file may hold its answer. It
// reads new rows from db first when the filter is due; on any error it
// says "maybe" for every hash, so the lookup goes to SQLite as before.
func (f *keyFilter) mayHold(db *sql.DB, hashes []string) []bool {
	out := make([]bool, len(hashes))
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.sync(db); err != nil {
		f.bf = nil // try again next time
		for i := range out {
			out[i] = true
		}
		return out
	}
	var b [8]byte
	for i, h := range hashes {
		binary.LittleEndian.PutUint64(b[:], uint64(cacheK(h)))
		out[i] = f.bf.Test(b[:])
	}
	return out
}

// idRange is the row ids [0] to [1] that one commit wrote.
type idRange [2]int64

// added records keys this process has just committed as rows ids. When
// those rows directly follow the last row read in, the filter moves past
// them: reading back this process's own rows was most of a refresh.
func (f *keyFilter) added(hashes []string, ids idRange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bf == nil {
		return // filled from the file, these included, on first use
	}
	for _, h := range hashes {
		f.add(cacheK(h))
	}
	if ids[0] == f.maxID+1 && ids[1] >= ids[0] {
		f.maxID = ids[1]
	}
}

func (f *keyFilter) add(k int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(k))
	f.bf.Add(b[:])
	f.n++
}

// sync fills the filter on first use, reads in rows appended since, and
// rebuilds it larger once it holds more keys than it was sized for (its
// false positives would grow). Called with f.mu held.
func (f *keyFilter) sync(db *sql.DB) error {
	if f.bf != nil && f.n <= f.size && time.Since(f.checked) < filterRefresh {
		return nil
	}
	full := f.bf == nil || f.n > f.size
	if full {
		var count int64
		if err := db.QueryRow(`SELECT count(*) FROM responses`).Scan(&count); err != nil {
			return err
		}
		f.size = max(filterMinSize, 2*uint(count))
		f.bf = bloom.NewWithEstimates(f.size, 0.01)
		f.n, f.maxID = 0, 0
	}
	var rows *sql.Rows
	var err error
	if full {
		// Every key, from the index: it holds k and the row id and is a
		// small fraction of the table, whose rows carry the answers.
		rows, err = db.Query(`SELECT id, k FROM responses INDEXED BY responses_k`)
	} else {
		rows, err = db.Query(`SELECT id, k FROM responses WHERE id > ?`, f.maxID)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, k int64
		if err := rows.Scan(&id, &k); err != nil {
			return err
		}
		f.add(k)
		f.maxID = max(f.maxID, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	f.checked = time.Now()
	return nil
}
