package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"

	"github.com/polyglot-teachers/polyglot/core/secret"
	sqlite3 "modernc.org/sqlite/lib"
)

// driverName is SQLite behind the host's redaction choke point: every
// string a write stores is stripped of registered secrets (core/secret).
const driverName = secret.SQLiteDriver

// DBName is the database file inside a store folder.
const DBName = "polyglot.db"

var (
	// ErrLocked: another process holds the store's lock (see *LockError for its pid).
	ErrLocked = errors.New("store is locked by another polyglot process")
	// ErrNewerSchema: the store was written by a newer polyglot.
	ErrNewerSchema = errors.New("store schema is newer than this polyglot")
	// ErrDiskFull: SQLite could not grow the database (disk or quota full).
	ErrDiskFull = errors.New("disk full")
	// ErrReadOnly: a write was attempted on a store opened with OpenReadOnly.
	ErrReadOnly = errors.New("store is opened read-only")
	// ErrNoStore: OpenReadOnly found no database in the folder.
	ErrNoStore = errors.New("no polyglot store here")
)

// Store is an open experiment store. Its methods are safe for concurrent use.
type Store struct {
	dir      string
	path     string
	wdb      *sql.DB // one connection: every write is serialised through it
	rdb      *sql.DB // read pool
	lock     *dirLock
	readOnly bool

	// stmts holds statements prepared once on the writer's connection and
	// reused by every transaction: re-preparing the batch inserts each
	// group commit cost more than executing them.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	ckdb   *sql.DB // background checkpointer's own connection (writers only)
	ckStop chan struct{}
	ckDone chan struct{}
}

// Open opens (creating if needed) the store in dir for writing. It takes the
// folder's exclusive lock, failing at once with a *LockError (ErrLocked) when
// another process holds it, and migrates the schema.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store folder %q: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "artifacts"), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the store folder %s: %w; check the path and its permissions", abs, err)
	}
	lk, err := acquireLock(filepath.Join(abs, "lock"))
	if err != nil {
		return nil, err
	}
	s := &Store{dir: abs, path: filepath.Join(abs, DBName), lock: lk}
	if err := s.openDBs(false); err != nil {
		lk.release()
		return nil, err
	}
	return s, nil
}

// quickCheckOnOpen: Open checks the database's pages before a run writes
// to it. A run that resumes a finished store may read none of its pages,
// and would otherwise report success on a damaged store (and add to it).
// Benchmarks turn it off to measure its cost.
var quickCheckOnOpen = true

// ErrDamaged: the store failed SQLite's quick check.
var ErrDamaged = errors.New("the store's database is damaged")

// quickCheck runs PRAGMA quick_check (every page's b-tree structure, not
// the indexes' contents: O(pages), without integrity_check's index
// lookups) and refuses a damaged store with what to do about it.
func (s *Store) quickCheck() error {
	rows, err := s.wdb.Query("PRAGMA quick_check(5)")
	if err != nil {
		return s.damaged(err.Error())
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return s.damaged(err.Error())
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return s.damaged(err.Error())
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	return s.damaged(strings.Join(msgs, "; "))
}

func (s *Store) damaged(detail string) error {
	return fmt.Errorf("%w: %s failed SQLite's quick check (%s). polyglot changed nothing in it. "+
		"Restore %s from a backup; or salvage what is readable with `sqlite3 %s .recover | sqlite3 recovered.db` "+
		"and put recovered.db in its place; or move the store folder aside and run again to start afresh "+
		"(the shared response cache answers requests already paid for)", ErrDamaged, s.path, detail, DBName, s.path)
}

// OpenReadOnly opens the store in dir for reading without taking the lock,
// so it works while a run is writing. The schema must be current.
func OpenReadOnly(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store folder %q: %w", dir, err)
	}
	p := filepath.Join(abs, DBName)
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("%w: %s does not exist; run `polyglot run` first or check the experiment's store path: %w", ErrNoStore, p, err)
	}
	s := &Store{dir: abs, path: p, readOnly: true}
	if err := s.openDBs(true); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir is the store folder (absolute).
func (s *Store) Dir() string { return s.dir }

// Path is the database file (absolute).
func (s *Store) Path() string { return s.path }

// Close checkpoints and closes the database and releases the lock. Close
// every Writer first: rows still buffered in an open Writer are lost.
func (s *Store) Close() error {
	var errs []error
	if s.ckStop != nil {
		close(s.ckStop)
		<-s.ckDone
		s.ckStop = nil
		errs = append(errs, s.ckdb.Close())
	}
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	if s.wdb != nil {
		// A truncating checkpoint leaves a small WAL behind for the next opener.
		_, _ = s.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		errs = append(errs, s.wdb.Close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.release())
		s.lock = nil
	}
	return errors.Join(errs...)
}

// dsn builds a connection string. cacheKiB sizes the connection's page
// cache; no mmap, since mapped pages would count in the RSS of a process
// reading a store of gigabytes.
func dsn(path string, readOnly bool, cacheKiB int, extra ...string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheKiB))
	if readOnly {
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Add(extra[i], extra[i+1])
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Page cache sizes. The C heap rounds each 16 KiB page (plus header) up,
// so the RSS cost is about three times these figures. The writer's was
// 32 MiB, under which the host's RSS grew by ~1.9 KB per example written
// and never levelled off (377 MiB after 200k single examples); at 16 MiB
// it stays at ~63 MiB with the same insert rate.
const (
	writerCacheKiB = 16 << 10 // keeps the indexes' hot pages during bulk inserts
	readerCacheKiB = 4 << 10  // readers mostly stream
	ckptCacheKiB   = 512      // the checkpointer copies frames, it needs no cache
)

// openDBs checks the schema version before changing anything, then (for a
// writer) switches to WAL and migrates.
func (s *Store) openDBs(readOnly bool) error {
	var err error
	s.rdb, err = sql.Open(driverName, dsn(s.path, true, readerCacheKiB))
	if err != nil {
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	s.rdb.SetMaxOpenConns(4)
	if !readOnly {
		// The checkpointer goroutine copies the WAL into the database on
		// the other core while the writer keeps inserting; the writer's own
		// automatic checkpoint (every 64 MiB of WAL) then finds little left
		// to copy, and is what lets the WAL restart from its beginning (a
		// WAL only rewinds when a writer starts after a complete checkpoint).
		s.wdb, err = sql.Open(driverName, dsn(s.path, false, writerCacheKiB, "_txlock", "immediate", "_pragma", "wal_autocheckpoint(4096)", "_pragma", "temp_store(MEMORY)"))
		if err != nil {
			s.rdb.Close()
			return fmt.Errorf("open %s: %w", s.path, err)
		}
		// One long-lived connection: per-connection pragmas (and tests'
		// max_page_count) stay in force, and writers never contend.
		s.wdb.SetMaxOpenConns(1)
		s.wdb.SetMaxIdleConns(1)
		s.wdb.SetConnMaxIdleTime(0)
		s.wdb.SetConnMaxLifetime(0)
	}
	fail := func(e error) error {
		if s.wdb != nil {
			s.wdb.Close()
			s.wdb = nil
		}
		s.rdb.Close()
		s.rdb = nil
		return e
	}
	db := s.wdb
	if readOnly {
		db = s.rdb
	}
	var ver int
	if err := db.QueryRow("PRAGMA user_version").Scan(&ver); err != nil {
		return fail(fmt.Errorf("%s is not a readable SQLite database (%v); restore it from a backup or point the experiment at a new store folder", s.path, err))
	}
	if ver > len(migrations) {
		return fail(fmt.Errorf("%w: this store was written by a newer polyglot (schema %d > %d); upgrade polyglot (%s)", ErrNewerSchema, ver, len(migrations), s.path))
	}
	if readOnly {
		if ver < len(migrations) {
			return fail(fmt.Errorf("store %s has schema %d, this polyglot needs %d; run `polyglot run` once to upgrade it", s.path, ver, len(migrations)))
		}
		return nil
	}
	if ver > 0 && quickCheckOnOpen {
		if err := s.quickCheck(); err != nil {
			return fail(err)
		}
	}
	if ver == 0 {
		// Examples are ~1 KB rows: 16 KiB pages hold many per page and
		// halve the write syscalls of the default 4 KiB. Only possible
		// before the first table exists.
		if _, err := s.wdb.Exec("PRAGMA page_size = 16384"); err != nil {
			return fail(s.wrap("set page size", err))
		}
	}
	var mode string
	if err := s.wdb.QueryRow("PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return fail(s.wrap("enable WAL", err))
	}
	if err := migrate(s.wdb, ver); err != nil {
		return fail(s.wrap("migrate schema", err))
	}
	s.ckdb, err = sql.Open(driverName, dsn(s.path, false, ckptCacheKiB))
	if err != nil {
		return fail(s.wrap("open checkpointer", err))
	}
	s.ckdb.SetMaxOpenConns(1)
	s.ckStop, s.ckDone = make(chan struct{}), make(chan struct{})
	go s.checkpointLoop()
	return nil
}

// checkpointLoop copies committed WAL frames into the database every
// 250 ms without blocking the writer (PASSIVE). Errors (e.g. busy while the
// writer checkpoints) are left for the next round: a checkpoint only moves
// data that is already durable in the WAL.
func (s *Store) checkpointLoop() {
	defer close(s.ckDone)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.ckStop:
			return
		case <-t.C:
		}
		_, _ = s.ckdb.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// wrap turns a SQLite error into one that says what to do.
func (s *Store) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("store %s: %s: %w (SQLite: %v); rows committed before are safe — free disk space and run again to resume", s.dir, what, ErrDiskFull, err)
		case sqlite3.SQLITE_READONLY:
			return fmt.Errorf("store %s: %s: the database is read-only (%v); check the folder's permissions", s.dir, what, err)
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("store %s: %s: the database is damaged (%v); restore %s from a backup", s.dir, what, err, s.path)
		case sqlite3.SQLITE_IOERR:
			return fmt.Errorf("store %s: %s: I/O error (%v); check the disk", s.dir, what, err)
		}
	}
	return fmt.Errorf("store %s: %s: %w", s.dir, what, err)
}

func (s *Store) writable() error {
	if s.readOnly {
		return fmt.Errorf("%w (%s); writes need Open, which takes the lock", ErrReadOnly, s.dir)
	}
	return nil
}

// tx runs fn in one write transaction.
func (s *Store) tx(what string, fn func(*sql.Tx) error) error {
	if err := s.writable(); err != nil {
		return err
	}
	t, err := s.wdb.BeginTx(context.Background(), nil)
	if err != nil {
		return s.wrap(what, err)
	}
	if err := fn(t); err != nil {
		t.Rollback()
		return s.wrap(what, err)
	}
	return s.wrap(what, t.Commit())
}

// prepared returns the statement for query prepared on the writer's
// connection, preparing it the first time. Call it outside a transaction:
// the writer has one connection, which a transaction holds; inside one use
// tx.Stmt on the result.
func (s *Store) prepared(query string) (*sql.Stmt, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st := s.stmts[query]; st != nil {
		return st, nil
	}
	st, err := s.wdb.Prepare(query)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns nil when it says ok.
func (s *Store) IntegrityCheck() error {
	rows, err := s.rdb.Query("PRAGMA integrity_check")
	if err != nil {
		return s.wrap("integrity check", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return s.wrap("integrity check", err)
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	return fmt.Errorf("store %s failed the integrity check: %v; restore it from a backup", s.path, msgs)
}
