package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrations[i] takes the schema from version i to i+1. Never edit a released
// entry: append a new one. len(migrations) is the current schema version.
var migrations = []string{
	// 1: the initial schema. Times are Unix milliseconds (cheap, sortable).
	`
CREATE TABLE runs (
	id        INTEGER PRIMARY KEY,
	spec_hash TEXT NOT NULL,
	command   TEXT NOT NULL,
	pid       INTEGER NOT NULL,
	host      TEXT NOT NULL,
	started   INTEGER NOT NULL,
	ended     INTEGER,
	status    TEXT NOT NULL DEFAULT 'running'
);

CREATE TABLE units (
	key      TEXT PRIMARY KEY,
	stage    TEXT NOT NULL,
	label    TEXT NOT NULL DEFAULT '',
	state    TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','running','done','failed')),
	attempts INTEGER NOT NULL DEFAULT 0,
	detail   TEXT,
	updated  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX units_stage ON units (stage, key);

-- rowid table: rows are ~1 KB, too large to cluster on a text key.
-- The request key is unique within its unit (keys hash the whole request,
-- unit included). There is deliberately no index on the key alone: request
-- keys are random hashes, and a random-order index is rewritten page by
-- page on every commit (measured: ~16 GB of WAL traffic for 1.4M rows).
CREATE TABLE examples (
	key           TEXT NOT NULL,
	unit_key      TEXT NOT NULL,
	teacher       TEXT NOT NULL,
	model         TEXT NOT NULL,
	language      TEXT NOT NULL,
	strategy      TEXT NOT NULL,
	seed          INTEGER NOT NULL,
	seed_row_id   TEXT NOT NULL,
	idx           INTEGER NOT NULL,
	prompt        TEXT NOT NULL,
	response      TEXT NOT NULL,
	params        TEXT,
	input_tokens  INTEGER NOT NULL,
	output_tokens INTEGER NOT NULL,
	latency_ms    REAL NOT NULL,
	cost_usd      REAL NOT NULL,
	created       INTEGER NOT NULL
);
-- The export/iteration order; and the resume check (covering, appends
-- within the few units being generated at a time).
-- Ties on idx fall back to the rowid, which every index entry ends with.
CREATE INDEX examples_order ON examples (teacher, language, strategy, seed, idx);
CREATE UNIQUE INDEX examples_unit ON examples (unit_key, key);

CREATE TABLE failures (
	key      TEXT PRIMARY KEY,
	unit_key TEXT NOT NULL,
	teacher  TEXT NOT NULL,
	language TEXT NOT NULL,
	strategy TEXT NOT NULL,
	seed     INTEGER NOT NULL,
	reason   TEXT NOT NULL,
	raw      TEXT NOT NULL,
	attempts INTEGER NOT NULL,
	final    INTEGER NOT NULL,
	updated  INTEGER NOT NULL
);
CREATE INDEX failures_unit ON failures (unit_key, final, key);
CREATE INDEX failures_cell ON failures (teacher, language, strategy, seed, key);

-- Running totals per cell, maintained by the Writer in the same transaction
-- as the rows, so status is instant on a store of millions of examples.
CREATE TABLE cell_totals (
	teacher       TEXT NOT NULL,
	language      TEXT NOT NULL,
	strategy      TEXT NOT NULL,
	seed          INTEGER NOT NULL,
	examples      INTEGER NOT NULL,
	input_tokens  INTEGER NOT NULL,
	output_tokens INTEGER NOT NULL,
	cost_usd      REAL NOT NULL,
	PRIMARY KEY (teacher, language, strategy, seed)
) WITHOUT ROWID;

CREATE TABLE metric_values (
	metric      TEXT NOT NULL,
	example_key TEXT NOT NULL,
	value       REAL NOT NULL,
	detail      TEXT,
	PRIMARY KEY (metric, example_key)
) WITHOUT ROWID;

CREATE TABLE metric_aggregates (
	metric    TEXT NOT NULL,
	teacher   TEXT NOT NULL,
	language  TEXT NOT NULL,
	strategy  TEXT NOT NULL,
	seed      INTEGER NOT NULL,
	value     REAL NOT NULL,
	direction TEXT NOT NULL,
	n         INTEGER NOT NULL,
	stderr    REAL NOT NULL,
	detail    TEXT,
	updated   INTEGER NOT NULL,
	PRIMARY KEY (metric, teacher, language, strategy, seed)
) WITHOUT ROWID;

CREATE TABLE trainings (
	unit_key   TEXT PRIMARY KEY,
	student    TEXT NOT NULL,
	teacher    TEXT NOT NULL,
	language   TEXT NOT NULL,
	strategy   TEXT NOT NULL,
	seed       INTEGER NOT NULL,
	status     TEXT NOT NULL,
	checkpoint TEXT NOT NULL,
	detail     TEXT,
	updated    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE evals (
	role           TEXT NOT NULL,
	student        TEXT NOT NULL,
	student_family TEXT NOT NULL,
	teacher        TEXT NOT NULL,
	strategy       TEXT NOT NULL,
	language       TEXT NOT NULL,
	seed           INTEGER NOT NULL,
	benchmark      TEXT NOT NULL,
	score          REAL NOT NULL,
	stderr         REAL NOT NULL,
	detail         TEXT,
	updated        INTEGER NOT NULL,
	PRIMARY KEY (role, student, teacher, strategy, language, seed, benchmark)
) WITHOUT ROWID;

CREATE TABLE kv (
	ns      TEXT NOT NULL,
	key     TEXT NOT NULL,
	value   TEXT NOT NULL,
	updated INTEGER NOT NULL,
	PRIMARY KEY (ns, key)
) WITHOUT ROWID;
` + cacheTable,

	// 2: the resume check's unique index leads with the request's position
	// in its unit. Request keys are random hashes, so (unit_key, key) took
	// every insert to a random leaf page and every commit rewrote one page
	// per row (measured: a third of the host's CPU at high request rates);
	// requests finish roughly in order, so (unit_key, idx, key) appends.
	// The engine's key determines idx (the key hashes the request id, which
	// holds its index), so the triple is as unique as the pair was.
	`
DROP INDEX examples_unit;
CREATE UNIQUE INDEX examples_unit_idx ON examples (unit_key, idx, key);
`,

	// 3: the response cache appends (see responsesTable).
	responsesMigration,

	// 4: what the response cache saved is kept apart from what was spent
	// (an example answered from the cache keeps its answer's tokens, spends
	// nothing and records the answer's cost as saved), and the cache drops
	// the answers it holds (see identityMigration).
	`
ALTER TABLE examples ADD COLUMN saved_usd REAL NOT NULL DEFAULT 0;
ALTER TABLE examples ADD COLUMN cached_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cell_totals ADD COLUMN saved_usd REAL NOT NULL DEFAULT 0;
ALTER TABLE cell_totals ADD COLUMN cached_calls INTEGER NOT NULL DEFAULT 0;
` + identityMigration,

	// 5: the jobs trainers ran on an executor, with the GPUs they asked for
	// and when they ran, so GPU-hours are the store's record rather than an
	// estimate (see Job.GPUHours).
	`
CREATE TABLE jobs (
	key       TEXT NOT NULL,
	attempt   INTEGER NOT NULL,
	student   TEXT NOT NULL,
	name      TEXT NOT NULL,
	backend   TEXT NOT NULL,
	job_id    TEXT NOT NULL,
	gpus      INTEGER NOT NULL,
	tasks     INTEGER NOT NULL,
	state     TEXT NOT NULL,
	submitted INTEGER NOT NULL,
	started   INTEGER NOT NULL DEFAULT 0,
	ended     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (key, attempt)
) WITHOUT ROWID;
`,
}

// identityMigration empties the response cache. Its keys used to name
// neither the plugin's build nor the request: a rebuilt plugin got the old
// plugin's answers back, and a seed prompt asked three times got one answer
// three times. Keys now hash both (engine.cacheKey, format v3); an answer
// stored under an old key cannot be told apart from another plugin's or
// another request's, so none is kept.
const identityMigration = `
DELETE FROM responses;
`

// cacheTable is the response cache as first released (see responsesTable).
const cacheTable = `
CREATE TABLE IF NOT EXISTS cache (
	hash    TEXT PRIMARY KEY,
	value   BLOB NOT NULL,
	created INTEGER NOT NULL
);
`

// responsesTable replaces cacheTable. Keyed by the request hash itself, the
// cache put every answer on a random page of a 64-character-key index, so
// each commit rewrote about one index page per answer and checkpointed
// them again (40 µs per answer with 100k answers cached; more as the user's
// cache grows). Rows now append in arrival order and the index holds only
// k, the hash's first 60 bits (cacheK): a tenth of the index pages per
// answer. Lookups read the rows with the hash's k and keep the one whose
// hash matches. The same answer may be stored twice (two runs racing);
// either serves.
const responsesTable = `
CREATE TABLE responses (
	id      INTEGER PRIMARY KEY,
	k       INTEGER NOT NULL,
	hash    TEXT NOT NULL,
	value   BLOB NOT NULL,
	created INTEGER NOT NULL
);
`

// responsesMigration moves the answers of cacheTable into responsesTable
// (hashes that are not request hashes, which polyglot never wrote, are
// dropped) and indexes them afterwards, which is faster than row by row.
var responsesMigration = responsesTable + `
INSERT INTO responses (k, hash, value, created)
SELECT ` + cacheKSQL("hash") + `, hash, value, created FROM cache
WHERE hash GLOB '` + strings.Repeat("[0-9a-f]", cacheKDigits) + `*' ORDER BY rowid;
DROP TABLE cache;
CREATE INDEX responses_k ON responses (k);
`

// migrate applies every migration after version from, each in its own
// transaction together with its user_version bump, so a crash mid-migration
// leaves the previous version intact.
func migrate(db *sql.DB, from int) error {
	return migrateList(db, from, migrations)
}

func migrateList(db *sql.DB, from int, list []string) error {
	if from >= len(list) {
		return nil
	}
	// Each migration runs in an IMMEDIATE transaction that reads the
	// version again: a cache file is shared, and two processes upgrading
	// it at once must apply each migration once (the second waits for the
	// write lock, then finds the work done).
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for v := from; v < len(list); v++ {
		if err := migrateOne(ctx, conn, v, list[v]); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	return nil
}

func migrateOne(ctx context.Context, conn *sql.Conn, v int, stmts string) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	var cur int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return err
	}
	if cur > v { // another process applied it meanwhile
		_, err := conn.ExecContext(ctx, "COMMIT")
		return err
	}
	if _, err := conn.ExecContext(ctx, stmts); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
