package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cache is a response cache: request hash -> response bytes (JSON).
// Both *Store (the experiment's own cache) and *CacheFile implement it.
type Cache interface {
	CacheGet(hash string) ([]byte, bool, error)
	CachePut(hash string, v []byte) error
	CachePutMany(entries []CacheEntry) error
}

var (
	_ Cache = (*Store)(nil)
	_ Cache = (*CacheFile)(nil)
)

// stmtCache keeps prepared statements per database: a cache lookup per
// request must not compile its SQL every time.
var stmtCache sync.Map // *sql.DB + query -> *sql.Stmt

func prepared(db *sql.DB, query string) (*sql.Stmt, error) {
	type key struct {
		db *sql.DB
		q  string
	}
	if st, ok := stmtCache.Load(key{db, query}); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.Prepare(query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := stmtCache.LoadOrStore(key{db, query}, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// cacheKDigits hex digits of a request hash make its k (60 bits).
const cacheKDigits = 15

// cacheK is the index key of a request hash: its first 60 bits when it is
// a hex digest (polyglot's keys are SHA-256 in hex), else an FNV-1a hash
// of the whole string (60 bits too, so the two never need to be told
// apart: a lookup compares the full hash anyway).
func cacheK(hash string) int64 {
	if len(hash) >= cacheKDigits {
		if k, err := strconv.ParseUint(hash[:cacheKDigits], 16, 64); err == nil && isLowerHex(hash[:cacheKDigits]) {
			return int64(k)
		}
	}
	h := fnv.New64a()
	h.Write([]byte(hash))
	return int64(h.Sum64() >> 4)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// cacheKSQL is cacheK of a hex column in SQL, for the migration.
func cacheKSQL(col string) string {
	var b strings.Builder
	for i := 0; i < cacheKDigits; i++ {
		if i > 0 {
			b.WriteString(" + ")
		}
		fmt.Fprintf(&b, "(instr('0123456789abcdef', substr(%s, %d, 1)) - 1) * %d", col, i+1, uint64(1)<<(4*(cacheKDigits-1-i)))
	}
	return b.String()
}

const cacheGetSQL = `SELECT value FROM responses WHERE k = ? AND hash = ? ORDER BY id DESC LIMIT 1`

func cacheGet(db *sql.DB, wrap func(string, error) error, hash string) ([]byte, bool, error) {
	var b []byte
	st, err := prepared(db, cacheGetSQL)
	if err != nil {
		return nil, false, wrap("cache get", err)
	}
	err = st.QueryRow(cacheK(hash), hash).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap("cache get", err)
	}
	return b, true, nil
}

// cacheGetManySQL takes the keys as one JSON array: one prepared statement
// for any number, and one read transaction for all of them. Only the
// index is searched; rows are read for the keys present, which in a
// generation run are few.
const cacheGetManySQL = `SELECT hash, value FROM responses WHERE k IN (SELECT value FROM json_each(?)) ORDER BY id`

// cacheGetMany looks many hashes up at once; the result holds the hashes
// found. A lookup per request cost mostly the start of a read transaction.
func cacheGetMany(db *sql.DB, wrap func(string, error) error, hashes []string) (map[string][]byte, error) {
	found := map[string][]byte{}
	if len(hashes) == 0 {
		return found, nil
	}
	want := make(map[string]bool, len(hashes))
	arg := make([]byte, 0, 20*len(hashes)+2)
	arg = append(arg, '[')
	for i, h := range hashes {
		if i > 0 {
			arg = append(arg, ',')
		}
		arg = strconv.AppendInt(arg, cacheK(h), 10)
		want[h] = true
	}
	arg = append(arg, ']')
	st, err := prepared(db, cacheGetManySQL)
	if err != nil {
		return nil, wrap("cache get", err)
	}
	rows, err := st.Query(string(arg))
	if err != nil {
		return nil, wrap("cache get", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		var v []byte
		if err := rows.Scan(&h, &v); err != nil {
			return nil, wrap("cache get", err)
		}
		if want[h] { // the same k, another request: not this one's answer
			found[h] = v // by id: the latest copy wins
		}
	}
	return found, wrap("cache get", rows.Err())
}

func cachePut(db *sql.DB, wrap func(string, error) error, hash string, v []byte) error {
	if hash == "" {
		return errors.New("cache put: empty hash")
	}
	_, err := cachePutMany(db, wrap, []CacheEntry{{Hash: hash, Value: v}})
	return err
}

// CacheEntry is one response for CachePutMany.
type CacheEntry struct {
	Hash  string
	Value []byte
}

// cachePutMany writes entries in one transaction: one commit for many
// answers instead of one each, and cachePutRows rows per statement (the
// driver's cost per statement was most of a row's).
func cachePutMany(db *sql.DB, wrap func(string, error) error, entries []CacheEntry) (ids idRange, err error) {
	const cols = 4
	now := nowMS()
	var runs [][]any // the arguments of each INSERT, cachePutRows rows at most
	for _, e := range entries {
		if e.Hash == "" {
			continue
		}
		if len(runs) == 0 || len(runs[len(runs)-1]) == cols*cachePutRows {
			runs = append(runs, make([]any, 0, cols*min(len(entries), cachePutRows)))
		}
		v := e.Value
		if v == nil {
			v = []byte{}
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], cacheK(e.Hash), e.Hash, v, now)
	}
	if len(runs) == 0 {
		return ids, nil
	}
	// Prepared before the transaction: the store's writer has a single
	// connection, which the transaction takes.
	stmts := make([]*sql.Stmt, len(runs))
	for i, args := range runs {
		if stmts[i], err = prepared(db, cachePutSQL(len(args)/cols)); err != nil {
			return ids, wrap("cache put", err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		return ids, wrap("cache put", err)
	}
	var n, last int64
	for i, args := range runs {
		st := tx.Stmt(stmts[i])
		res, err := st.Exec(args...)
		st.Close()
		if err == nil {
			last, err = res.LastInsertId()
		}
		if err != nil {
			tx.Rollback()
			return ids, wrap("cache put", err)
		}
		n += int64(len(args) / cols)
	}
	if err := tx.Commit(); err != nil {
		return ids, wrap("cache put", err)
	}
	// The transaction held the write lock from its first insert, so its
	// rows took consecutive ids.
	return idRange{last - n + 1, last}, nil
}

// cachePutRows answers go into one INSERT.
const cachePutRows = 64

// cachePutSQL inserts n answers.
func cachePutSQL(n int) string {
	return `INSERT INTO responses (k, hash, value, created) VALUES ` + strings.TrimSuffix(strings.Repeat("(?,?,?,?),", n), ",")
}

// CachePutMany stores many responses in one transaction.
func (s *Store) CachePutMany(entries []CacheEntry) error {
	if err := s.writable(); err != nil {
		return err
	}
	_, err := cachePutMany(s.wdb, s.wrap, entries)
	return err
}

// CachePutMany stores many responses in one transaction.
func (c *CacheFile) CachePutMany(entries []CacheEntry) error {
	ids, err := cachePutMany(c.db, c.wrap, entries)
	if err != nil {
		return err
	}
	hashes := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Hash != "" {
			hashes = append(hashes, e.Hash)
		}
	}
	c.filter.added(hashes, ids)
	return nil
}

// CacheGetMany returns the cached responses of the hashes found.
func (s *Store) CacheGetMany(hashes []string) (map[string][]byte, error) {
	return cacheGetMany(s.rdb, s.wrap, hashes)
}

// CacheGet returns the cached response for a request hash.
func (s *Store) CacheGet(hash string) ([]byte, bool, error) { return cacheGet(s.rdb, s.wrap, hash) }

// CachePut stores a response under a request hash.
func (s *Store) CachePut(hash string, v []byte) error {
	if err := s.writable(); err != nil {
		return err
	}
	return cachePut(s.wdb, s.wrap, hash, v)
}

// CacheFile is a response cache in its own SQLite file, shared by several
// experiments (and processes) at once: no exclusive lock, WAL and a busy
// timeout let them take turns.
type CacheFile struct {
	path   string
	db     *sql.DB
	filter keyFilter
	// sqlLookups counts the hashes CacheGetMany sent to SQLite (tests).
	sqlLookups atomic.Int64
}

// cacheMigrations is the cache file's own schema history.
var cacheMigrations = []string{cacheTable, responsesMigration, identityMigration}

// OpenCache opens (creating) a user-level cache file.
func OpenCache(path string) (*CacheFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cache %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the cache folder %s: %w", filepath.Dir(abs), err)
	}
	db, err := sql.Open(driverName, dsn(abs, false, readerCacheKiB))
	if err != nil {
		return nil, fmt.Errorf("open cache %s: %w", abs, err)
	}
	db.SetMaxOpenConns(4)
	c := &CacheFile{path: abs, db: db}
	var ver int
	if err := db.QueryRow("PRAGMA user_version").Scan(&ver); err != nil {
		db.Close()
		return nil, fmt.Errorf("cache %s is not a readable SQLite database (%v); delete it to start a new cache", abs, err)
	}
	if ver > len(cacheMigrations) {
		db.Close()
		return nil, fmt.Errorf("%w: this cache was written by a newer polyglot (schema %d > %d); upgrade polyglot (%s)", ErrNewerSchema, ver, len(cacheMigrations), abs)
	}
	var mode string
	if err := enableWAL(db, &mode); err != nil {
		db.Close()
		return nil, c.wrap("enable WAL", err)
	}
	if err := migrateList(db, ver, cacheMigrations); err != nil {
		db.Close()
		return nil, c.wrap("migrate", err)
	}
	return c, nil
}

func (c *CacheFile) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	s := &Store{dir: filepath.Dir(c.path), path: c.path}
	return s.wrap("cache "+filepath.Base(c.path)+": "+what, err)
}

// CacheGet returns the cached response for a request hash.
func (c *CacheFile) CacheGet(hash string) ([]byte, bool, error) {
	if !c.filter.mayHold(c.db, []string{hash})[0] {
		return nil, false, nil
	}
	return cacheGet(c.db, c.wrap, hash)
}

// CacheGetMany returns the cached responses of the hashes found. Hashes
// the file cannot hold (see keyFilter) are not looked up.
func (c *CacheFile) CacheGetMany(hashes []string) (map[string][]byte, error) {
	maybe := c.filter.mayHold(c.db, hashes)
	ask := hashes[:0:0]
	for i, h := range hashes {
		if maybe[i] {
			ask = append(ask, h)
		}
	}
	c.sqlLookups.Add(int64(len(ask)))
	return cacheGetMany(c.db, c.wrap, ask)
}

// CachePut stores a response under a request hash.
func (c *CacheFile) CachePut(hash string, v []byte) error {
	return c.CachePutMany([]CacheEntry{{Hash: hash, Value: v}})
}

// Close closes the cache file.
func (c *CacheFile) Close() error { return c.db.Close() }

// PutArtifact stores r's content under artifacts/ by its SHA-256 and returns
// the hex digest and the absolute path. Storing the same content twice is
// cheap and yields the same path. The file is written under a temporary
// name, synced, then renamed, so a crash never leaves a partial artifact.
func (s *Store) PutArtifact(r io.Reader) (sha string, path string, err error) {
	if err := s.writable(); err != nil {
		return "", "", err
	}
	root := filepath.Join(s.dir, "artifacts")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", "", fmt.Errorf("artifacts folder %s: %w", root, err)
	}
	tmp, err := os.CreateTemp(root, ".incoming-*")
	if err != nil {
		return "", "", fmt.Errorf("cannot create an artifact in %s: %w", root, err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		return "", "", fmt.Errorf("writing artifact to %s: %w", root, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", "", fmt.Errorf("writing artifact to %s: %w", root, err)
	}
	if err := tmp.Close(); err != nil {
		return "", "", fmt.Errorf("writing artifact to %s: %w", root, err)
	}
	sha = hex.EncodeToString(h.Sum(nil))
	path = s.ArtifactPath(sha)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", "", fmt.Errorf("artifacts folder: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		return sha, path, nil // already stored; the deferred cleanup drops the copy
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", "", fmt.Errorf("storing artifact %s: %w", sha, err)
	}
	tmp = nil
	return sha, path, nil
}

// ArtifactPath is where the artifact with this SHA-256 lives (it may not exist).
func (s *Store) ArtifactPath(sha string) string {
	sha = strings.ToLower(sha)
	if len(sha) < 3 {
		return filepath.Join(s.dir, "artifacts", sha)
	}
	return filepath.Join(s.dir, "artifacts", sha[:2], sha[2:])
}

// enableWAL switches a cache file to WAL mode (a no-op once it is). The
// switch needs the file to itself, and SQLite answers "busy" at once rather
// than wait when another process is switching it too (two runs creating
// the shared cache together): try again for a few seconds.
func enableWAL(db *sql.DB, mode *string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := db.QueryRow("PRAGMA journal_mode=WAL").Scan(mode)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
