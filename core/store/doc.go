// Package store is polyglot's durable experiment store: one SQLite database
// (dir/polyglot.db, WAL journal, synchronous=NORMAL) plus a content-addressed
// artifact folder (dir/artifacts/ab/cdef…, SHA-256).
//
// It is what makes a study of a million and more examples survivable: every
// generated example, failure, metric value, training and evaluation result is
// kept as soon as it is produced; writes are batched into transactions so a
// crash loses at most the uncommitted batch; and DoneRequests lets the engine
// resume without paying for a request twice.
//
// Concurrency model. Open takes an exclusive advisory lock (flock on
// dir/lock, which holds the owner's pid) so two `polyglot run`s can never
// write the same store; OpenReadOnly takes no lock and relies on WAL so that
// `polyglot status` can read while a run is going. Inside one process all
// writes go through a single SQLite connection (BEGIN IMMEDIATE), reads use a
// separate pool, so a long streaming read never blocks the writer.
//
// Schema changes are migrations keyed by PRAGMA user_version; a store written
// by a newer polyglot is refused (ErrNewerSchema) before anything is changed.
//
// Bulk-write design, measured on 1.4 million ~1 KB examples: 16 KiB pages;
// multi-row INSERT … RETURNING (exact running totals per cell without a
// second query); no index on the random request key alone (request keys are
// unique within their unit, enforced by the (unit, key) index, which grows
// at the few units being generated, not at random places); statement
// journals in memory; and a background goroutine that runs PASSIVE WAL
// checkpoints on the second core while the writer keeps inserting.
//
// Response cache (Cache; CacheFile is one file shared by a user's
// experiments and processes): answers are appended in arrival order and
// indexed by the first 60 bits of the request hash only, since a
// random-key index rewrote about a page per answer at every commit; an
// in-memory Bloom filter of those keys answers most lookups, which miss in
// a generation run, without a query (see responsesTable and keyFilter).
//
// The pure-Go driver modernc.org/sqlite is used so that polyglot stays a
// single static binary without cgo.
package store
